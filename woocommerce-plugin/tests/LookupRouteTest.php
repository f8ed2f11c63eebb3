<?php
/**
 * GET /wp-json/coex/v1/lookup: site-key auth and the JSON CoEx's connector parses.
 *
 * @package CoexWhatsApp
 */

use PHPUnit\Framework\TestCase;

final class LookupRouteTest extends TestCase {

	protected function setUp(): void {
		Coex_Test_WP::reset();
		Coex_Test_Fixtures::configure();
		Coex_Test_Fixtures::store();
	}

	private function request( $phone, $key = null ) {
		$request = new WP_REST_Request( 'GET', '/coex/v1/lookup' );
		if ( null !== $key ) {
			$request->set_header( 'X-Coex-Site-Key', $key );
		}
		$request->set_param( 'phone', $phone );
		return $request;
	}

	public function test_route_is_registered_with_the_site_key_check() {
		Coex_Rest::register_routes();
		$route = Coex_Test_WP::$routes['coex/v1/lookup'];
		$this->assertSame( 'GET', $route['methods'] );
		$this->assertSame( array( 'Coex_Rest', 'check_site_key' ), $route['permission_callback'] );
		$this->assertTrue( $route['args']['phone']['required'] );
	}

	public function test_good_key_passes_header_lookup_is_case_insensitive() {
		$this->assertTrue( Coex_Rest::check_site_key( $this->request( '+212612345678', Coex_Test_Fixtures::SITE_KEY ) ) );
		$lower = new WP_REST_Request( 'GET', '/coex/v1/lookup' );
		$lower->set_header( 'x-coex-site-key', Coex_Test_Fixtures::SITE_KEY );
		$this->assertTrue( Coex_Rest::check_site_key( $lower ) );
	}

	public function test_bad_and_missing_keys_are_401() {
		foreach ( array( Coex_Test_Fixtures::SITE_KEY . 'x', 'wrong', '', null ) as $key ) {
			$error = Coex_Rest::check_site_key( $this->request( '+212612345678', $key ) );
			$this->assertInstanceOf( WP_Error::class, $error );
			$this->assertSame( 'coex_invalid_site_key', $error->get_error_code() );
			$this->assertSame( array( 'status' => 401 ), $error->get_error_data() );
		}
	}

	public function test_no_key_configured_refuses_everything() {
		update_option( Coex_Settings::OPTION, array( 'server_url' => Coex_Test_Fixtures::SERVER ) );
		$error = Coex_Rest::check_site_key( $this->request( '+212612345678', '' ) );
		$this->assertSame( 'coex_site_key_not_set', $error->get_error_code() );
		$this->assertSame( 401, $error->get_error_data()['status'] );
	}

	public function test_only_the_hash_of_the_site_key_is_stored() {
		$stored = get_option( Coex_Settings::OPTION );
		$this->assertSame( hash( 'sha256', Coex_Test_Fixtures::SITE_KEY ), $stored['site_key_hash'] );
		$this->assertStringNotContainsString( Coex_Test_Fixtures::SITE_KEY, json_encode( $stored ) );
	}

	public function test_customer_and_orders_newest_first_in_the_connector_shape() {
		$response = Coex_Rest::lookup( $this->request( '0612345678', Coex_Test_Fixtures::SITE_KEY ) );
		$this->assertSame( 200, $response->get_status() );
		$data = $response->get_data();
		$this->assertSame( '+212612345678', $data['phone'] );
		$this->assertSame(
			array(
				'id'         => 12,
				'first_name' => 'Amina',
				'last_name'  => 'E.',
				'email'      => 'a@example.ma',
			),
			$data['customer']
		);
		// 1003 "06.12.34.56.78" via the index, 1004 "00212…" (not indexed) via an exact spelling, 1001; not 1002 (other number).
		$this->assertSame( array( 1003, 1004, 1001 ), array_column( $data['orders'], 'id' ) );
		$this->assertSame(
			array(
				'id'               => 1003,
				'number'           => '1003',
				'status'           => 'processing',
				'customer_id'      => 12,
				'date_created_gmt' => '2026-02-20T10:00:00',
				'total'            => '120.00',
				'currency'         => 'MAD',
			),
			$data['orders'][0]
		);
	}

	public function test_unindexed_odd_spellings_are_found_after_the_backfill() {
		$before = Coex_Rest::lookup( $this->request( '+212612345678', Coex_Test_Fixtures::SITE_KEY ) )->get_data();
		$this->assertNotContains( 1005, array_column( $before['orders'], 'id' ) );
		Coex_Phone_Index::index_batch( 1 );
		$this->assertSame( '+212612345678', Coex_Test_WP::$orders[1005]->get_meta( Coex_Phone_Index::META_KEY ) );
		$this->assertSame( 1, Coex_Test_WP::$orders[1005]->meta_saves );
		$after = Coex_Rest::lookup( $this->request( '+212612345678', Coex_Test_Fixtures::SITE_KEY ) )->get_data();
		$this->assertSame( array( 1003, 1004, 1001, 1005 ), array_column( $after['orders'], 'id' ) );
	}

	public function test_unknown_number_and_guest_orders() {
		$nobody = Coex_Rest::lookup( $this->request( '+212699999999', Coex_Test_Fixtures::SITE_KEY ) )->get_data();
		$this->assertSame(
			array(
				'phone'    => '+212699999999',
				'customer' => null,
				'orders'   => array(),
			),
			$nobody
		);
		$guest = Coex_Rest::lookup( $this->request( '+212612345679', Coex_Test_Fixtures::SITE_KEY ) )->get_data();
		$this->assertNull( $guest['customer'] );
		$this->assertSame( array( 1002 ), array_column( $guest['orders'], 'id' ) );
	}

	public function test_invalid_phone_is_400() {
		$error = Coex_Rest::lookup( $this->request( 'not a phone', Coex_Test_Fixtures::SITE_KEY ) );
		$this->assertSame( 'rest_invalid_param', $error->get_error_code() );
		$this->assertSame( 400, $error->get_error_data()['status'] );
	}

	public function test_index_follows_billing_phone_changes() {
		$order = new WC_Order( array( 'id' => 2000, 'billing_phone' => '07 12 34 56 78' ) );
		Coex_Phone_Index::before_save( $order );
		$this->assertSame( '+212712345678', $order->get_meta( Coex_Phone_Index::META_KEY ) );
		$cleared = new WC_Order( array( 'id' => 2001, 'billing_phone' => '' ) );
		$cleared->update_meta_data( Coex_Phone_Index::META_KEY, '+212712345678' );
		Coex_Phone_Index::before_save( $cleared );
		$this->assertSame( '', $cleared->get_meta( Coex_Phone_Index::META_KEY ) );
	}
}
