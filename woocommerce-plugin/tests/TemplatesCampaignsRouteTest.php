<?php
/**
 * The template picker's and the campaigns block's routes (GET /templates, GET /orders/<id>/campaigns):
 * registration with the user check, the signed proxy to CoEx, the campaign customer resolved from
 * the order (never from the browser), the responses reduced to what the UI shows, error mapping;
 * and template replies with positional or named body values.
 *
 * @package CoexWhatsApp
 */

use PHPUnit\Framework\TestCase;

final class TemplatesCampaignsRouteTest extends TestCase {

	/** @var string */
	private $nonce;

	protected function setUp(): void {
		Coex_Test_WP::reset();
		Coex_Test_Fixtures::configure();
		Coex_Test_Fixtures::store();
		Coex_Test_WP::$caps['edit_shop_orders'] = true;
		$this->nonce                            = wp_create_nonce( 'wp_rest' );
		Coex_Rest::register_routes();
	}

	private function request( $route, array $params = array(), $nonce = null ) {
		$request = new WP_REST_Request( 'GET', $route );
		$request->set_header( 'X-WP-Nonce', null === $nonce ? $this->nonce : $nonce );
		foreach ( $params as $k => $v ) {
			$request->set_param( $k, $v );
		}
		return $request;
	}

	private function assert_signed( array $sent, $path_with_query, $body = '' ) {
		$this->assertSame( Coex_Test_Fixtures::SERVER . $path_with_query, $sent['url'] );
		$h = $sent['args']['headers'];
		$this->assertSame( 'https://shop.example.ma', $h['X-Coex-Account'] );
		$this->assertSame(
			Coex_Signer::signature( Coex_Test_Fixtures::EXTENSION_KEY, $sent['args']['method'], $path_with_query, $h['X-Coex-Timestamp'], $h['X-Coex-Nonce'], $body ),
			$h['X-Coex-Signature']
		);
	}

	private static function templates_body() {
		return array(
			'templates'  => array(
				array(
					'name'              => 'hello_world',
					'language'          => 'en_US',
					'category'          => 'UTILITY',
					'body'              => 'Hello World',
					'parameters'        => array( 'format' => 'positional', 'names' => array() ),
					'sendable'          => true,
					'unsendable_reason' => null,
					'components'        => array( 'not for the browser' ),
				),
				array(
					'name'              => 'order_shipped',
					'language'          => 'fr',
					'category'          => 'UTILITY',
					'body'              => 'Bonjour {{1}}, votre commande {{2}} est en route.',
					'parameters'        => array( 'format' => 'positional', 'names' => array( '1', '2' ) ),
					'sendable'          => true,
					'unsendable_reason' => null,
				),
				array(
					'name'              => 'promo_photo',
					'language'          => 'ar',
					'category'          => 'MARKETING',
					'body'              => 'عرض خاص',
					'parameters'        => array( 'format' => 'named', 'names' => array( 'first_name' ) ),
					'sendable'          => false,
					'unsendable_reason' => 'needs an image header',
				),
				array( 'language' => 'fr' ),
				'junk',
			),
			'stale'      => true,
			'fetched_at' => '2026-12-04T10:00:00.000Z',
		);
	}

	private static function campaigns_body() {
		return array(
			'campaigns' => array(
				array(
					'id'           => 'c-1',
					'name'         => 'Soldes Ramadan',
					'status'       => 'completed',
					'template'     => array( 'name' => 'promo_ramadan', 'language' => 'ar', 'category' => 'marketing' ),
					'created_at'   => '2026-11-30T09:00:00.000Z',
					'started_at'   => '2026-11-30T09:05:00.000Z',
					'completed_at' => '2026-11-30T09:45:00.000Z',
					'counts'       => array( 'total' => 1200, 'queued' => 0, 'sending' => 0, 'skipped' => 14, 'sent' => 1180, 'delivered' => 1100, 'read' => 870, 'failed' => 6, 'replied' => 95 ),
					'failures'     => array( array( 'code' => '131049', 'count' => 5, 'example' => 'ecosystem engagement' ) ),
					'recipient'    => array( 'status' => 'sent', 'message_status' => 'read', 'error_code' => null, 'error' => null, 'sent_at' => '2026-11-30T09:06:00.000Z', 'replied' => true ),
					'internal'     => 'dropped',
				),
				array( 'name' => 'no id' ),
			),
			'opt_out'   => array( 'source' => 'keyword', 'detail' => 'baraka', 'at' => '2026-12-03T18:00:00.000Z' ),
		);
	}

	public function test_routes_are_registered_with_the_user_check() {
		$campaigns = Coex_Test_WP::$routes['coex/v1/orders/(?P<id>\d+)/campaigns'];
		$templates = Coex_Test_WP::$routes['coex/v1/templates'];
		foreach ( array( $campaigns, $templates ) as $route ) {
			$this->assertSame( 'GET', $route['methods'] );
			$this->assertSame( array( 'Coex_Rest', 'check_order_user' ), $route['permission_callback'] );
		}
		$this->assertSame( array( 'Coex_Rest', 'campaigns' ), $campaigns['callback'] );
		$this->assertSame( array( 'Coex_Rest', 'templates' ), $templates['callback'] );
		$this->assertSame( '^[0-9]{1,32}$', $templates['args']['phone_number_id']['pattern'] );
		$this->assertArrayNotHasKey( 'phone', $campaigns['args'], 'the campaigns route takes no phone from the browser' );
	}

	public function test_both_routes_need_the_nonce_and_the_capability() {
		foreach ( array( 'coex/v1/orders/(?P<id>\d+)/campaigns', 'coex/v1/templates' ) as $route ) {
			$check = Coex_Test_WP::$routes[ $route ]['permission_callback'];
			$this->assertTrue( call_user_func( $check, $this->request( '/x', array( 'id' => '1003' ) ) ) );
			$this->assertSame( 'rest_cookie_invalid_nonce', call_user_func( $check, $this->request( '/x', array(), '' ) )->get_error_code() );
			$this->assertSame( 'rest_cookie_invalid_nonce', call_user_func( $check, $this->request( '/x', array(), wp_create_nonce( 'other' ) ) )->get_error_code() );
		}
		Coex_Test_WP::$caps = array( 'read' => true );
		foreach ( array( 'coex/v1/orders/(?P<id>\d+)/campaigns', 'coex/v1/templates' ) as $route ) {
			$denied = call_user_func( Coex_Test_WP::$routes[ $route ]['permission_callback'], $this->request( '/x' ) );
			$this->assertSame( 'rest_forbidden', $denied->get_error_code() );
			$this->assertSame( 403, $denied->get_error_data()['status'] );
		}
	}

	public function test_templates_are_proxied_signed_and_reduced_to_what_the_picker_uses() {
		Coex_Test_WP::$http_queue = array( Coex_Test_Fixtures::http( 200, self::templates_body() ) );
		$response                 = Coex_Rest::templates( $this->request( '/coex/v1/templates', array( 'phone_number_id' => '106540352242922' ) ) );
		$this->assertSame( 200, $response->get_status() );
		$this->assertSame( 'GET', Coex_Test_WP::$http_log[0]['args']['method'] );
		$this->assert_signed( Coex_Test_WP::$http_log[0], '/ext/v1/woocommerce/templates?phone_number_id=106540352242922' );

		$data = $response->get_data();
		$this->assertTrue( $data['stale'] );
		$this->assertSame( '2026-12-04T10:00:00.000Z', $data['fetched_at'] );
		$this->assertSame( array( 'hello_world', 'order_shipped', 'promo_photo' ), array_column( $data['templates'], 'name' ), 'entries without a name are dropped' );
		$this->assertSame(
			array(
				'name'              => 'order_shipped',
				'language'          => 'fr',
				'category'          => 'UTILITY',
				'body'              => 'Bonjour {{1}}, votre commande {{2}} est en route.',
				'parameters'        => array( 'format' => 'positional', 'names' => array( '1', '2' ) ),
				'sendable'          => true,
				'unsendable_reason' => null,
			),
			$data['templates'][1]
		);
		$this->assertArrayNotHasKey( 'components', $data['templates'][0] );
		$this->assertSame( array( false, 'needs an image header', 'named' ), array( $data['templates'][2]['sendable'], $data['templates'][2]['unsendable_reason'], $data['templates'][2]['parameters']['format'] ) );
	}

	public function test_templates_without_a_number_ask_for_every_number_and_bad_numbers_never_leave() {
		Coex_Test_WP::$http_queue = array( Coex_Test_Fixtures::http( 200, array( 'templates' => array(), 'stale' => false, 'fetched_at' => null ) ) );
		$data                     = Coex_Rest::templates( $this->request( '/coex/v1/templates' ) )->get_data();
		$this->assertSame( array( 'templates' => array(), 'stale' => false, 'fetched_at' => null ), $data );
		$this->assert_signed( Coex_Test_WP::$http_log[0], '/ext/v1/woocommerce/templates' );

		$error = Coex_Rest::templates( $this->request( '/coex/v1/templates', array( 'phone_number_id' => '1065&phone=x' ) ) );
		$this->assertSame( 'rest_invalid_param', $error->get_error_code() );
		$this->assertSame( 400, $error->get_error_data()['status'] );
		$this->assertCount( 1, Coex_Test_WP::$http_log, 'nothing sent for an invalid number id' );
	}

	public function test_template_errors_are_mapped_with_translatable_messages() {
		$cases = array(
			array( Coex_Test_Fixtures::http( 404, array( 'code' => 'not_found', 'error' => 'Not found' ) ), 'coex_not_found', 404, 'no longer connected' ),
			array( Coex_Test_Fixtures::http( 409, array( 'code' => 'no_number', 'error' => 'No number' ) ), 'coex_no_number', 409, 'No WhatsApp number' ),
			array( Coex_Test_Fixtures::http( 502, array( 'code' => 'templates_unavailable', 'error' => 'Meta refused', 'meta_code' => 190 ) ), 'coex_templates_unavailable', 502, 'try again' ),
			array( Coex_Test_Fixtures::http( 401, array( 'code' => 'bad_signature' ) ), 'coex_auth_failed', 502, 'extension key' ),
			array( new WP_Error( 'http_request_failed', 'Connection refused' ), 'coex_unreachable', 502, 'Connection refused' ),
			array( Coex_Test_Fixtures::http( 200, 'oops' ), 'coex_bad_response', 502, 'not JSON' ),
		);
		foreach ( $cases as list( $reply, $code, $status, $says ) ) {
			Coex_Test_WP::$http_queue = array( $reply );
			$error                    = Coex_Rest::templates( $this->request( '/coex/v1/templates', array( 'phone_number_id' => '106540352242922' ) ) );
			$this->assertInstanceOf( WP_Error::class, $error, $code );
			$this->assertSame( $code, $error->get_error_code() );
			$this->assertSame( $status, $error->get_error_data()['status'], $code );
			$this->assertStringContainsString( $says, $error->get_error_message(), $code );
		}
		update_option( Coex_Settings::OPTION, array() );
		$this->assertSame( 503, Coex_Rest::templates( $this->request( '/coex/v1/templates' ) )->get_error_data()['status'] );
	}

	public function test_campaigns_use_the_orders_billing_phone_never_one_from_the_browser() {
		Coex_Test_WP::$http_queue = array( Coex_Test_Fixtures::http( 200, self::campaigns_body() ) );
		// Order 1003's billing phone is "06.12.34.56.78"; the phone the browser adds is ignored.
		$response = Coex_Rest::campaigns( $this->request( '/coex/v1/orders/1003/campaigns', array( 'id' => '1003', 'phone' => '+212699999999' ) ) );
		$this->assertSame( 200, $response->get_status() );
		$this->assertCount( 1, Coex_Test_WP::$http_log );
		$this->assert_signed( Coex_Test_WP::$http_log[0], '/ext/v1/woocommerce/campaigns?phone=%2B212612345678&limit=5' );
		$this->assertStringNotContainsString( '699999999', Coex_Test_WP::$http_log[0]['url'] );

		$data = $response->get_data();
		$this->assertSame( array( 'source' => 'keyword', 'detail' => 'baraka', 'at' => '2026-12-03T18:00:00.000Z' ), $data['opt_out'] );
		$this->assertCount( 1, $data['campaigns'], 'a campaign without an id is dropped' );
		$campaign = $data['campaigns'][0];
		$this->assertArrayNotHasKey( 'internal', $campaign );
		$this->assertSame( array( 'Soldes Ramadan', 'completed', 1180, 'read', true ), array( $campaign['name'], $campaign['status'], $campaign['counts']['sent'], $campaign['recipient']['message_status'], $campaign['recipient']['replied'] ) );
		$this->assertSame( 'promo_ramadan', $campaign['template']['name'] );
	}

	public function test_campaigns_of_an_order_without_phone_or_unknown_order() {
		Coex_Test_WP::$orders[3000] = new WC_Order( array( 'id' => 3000, 'billing_phone' => 'n/a' ) );
		$data                       = Coex_Rest::campaigns( $this->request( '/x', array( 'id' => '3000' ) ) )->get_data();
		$this->assertSame( array( 'campaigns' => array(), 'opt_out' => null ), $data );
		$this->assertSame( array(), Coex_Test_WP::$http_log, 'nothing sent to CoEx without a customer' );

		$missing = Coex_Rest::campaigns( $this->request( '/x', array( 'id' => '9999' ) ) );
		$this->assertSame( array( 'coex_order_not_found', 404 ), array( $missing->get_error_code(), $missing->get_error_data()['status'] ) );
	}

	public function test_campaign_errors_are_mapped() {
		$cases = array(
			array( Coex_Test_Fixtures::http( 400, array( 'code' => 'invalid_phone', 'error' => 'phone must be a phone number' ) ), 'coex_invalid_phone', 400 ),
			array( Coex_Test_Fixtures::http( 403, array( 'code' => 'unknown_account' ) ), 'coex_auth_failed', 502 ),
			array( Coex_Test_Fixtures::http( 500, '<html>' ), 'coex_upstream_error', 502 ),
			array( new WP_Error( 'http_request_failed', 'timed out' ), 'coex_unreachable', 502 ),
		);
		foreach ( $cases as list( $reply, $code, $status ) ) {
			Coex_Test_WP::$http_queue = array( $reply );
			$error                    = Coex_Rest::campaigns( $this->request( '/x', array( 'id' => '1003' ) ) );
			$this->assertSame( array( $code, $status ), array( $error->get_error_code(), $error->get_error_data()['status'] ) );
		}
		update_option( Coex_Settings::OPTION, array() );
		$this->assertSame( 'coex_not_configured', Coex_Rest::campaigns( $this->request( '/x', array( 'id' => '1003' ) ) )->get_error_code() );
	}

	private static function thread_body() {
		return array(
			'thread'   => array(
				'id'     => 'thr_42',
				'window' => array( 'open' => false, 'closes_at' => null ),
			),
			'messages' => array(),
			'sync'     => null,
		);
	}

	public function test_template_reply_sends_positional_values_as_a_list_and_named_values_as_an_object() {
		Coex_Test_WP::$http_queue = array(
			Coex_Test_Fixtures::http( 200, self::thread_body() ),
			Coex_Test_Fixtures::http( 201, array( 'message' => array( 'id' => 'm-1' ) ) ),
			Coex_Test_Fixtures::http( 200, self::thread_body() ),
			Coex_Test_Fixtures::http( 201, array( 'message' => array( 'id' => 'm-2' ) ) ),
		);
		$positional = array( 'name' => 'order_shipped', 'language' => 'fr', 'body_parameters' => array( ' Amina ', '#1003' ) );
		Coex_Rest::send_message( $this->request( '/x', array( 'id' => '1003', 'template' => $positional ) ) );
		$body = '{"template":{"name":"order_shipped","language":"fr","body_parameters":["Amina","#1003"]},"actor":"manager@shop.example.ma"}';
		$this->assertSame( $body, Coex_Test_WP::$http_log[1]['args']['body'] );
		$this->assert_signed( Coex_Test_WP::$http_log[1], '/ext/v1/woocommerce/threads/thr_42/messages', $body );

		$named = array( 'name' => 'welcome_back', 'language' => 'ar', 'body_parameters' => array( 'first_name' => 'يوسف', 'order_id' => '1003' ) );
		Coex_Rest::send_message( $this->request( '/x', array( 'id' => '1003', 'template' => $named ) ) );
		$this->assertSame( '{"template":{"name":"welcome_back","language":"ar","body_parameters":{"first_name":"يوسف","order_id":"1003"}},"actor":"manager@shop.example.ma"}', Coex_Test_WP::$http_log[3]['args']['body'] );
	}

	public function test_template_values_are_validated() {
		$template = static function ( $values ) {
			return array( 'name' => 'order_shipped', 'language' => 'fr', 'body_parameters' => $values );
		};
		$this->assertSame( array( 'template' => array( 'name' => 'order_shipped', 'language' => 'fr' ) ), Coex_Rest::message_payload( null, $template( array() ) ), 'no values: no body_parameters' );
		$bad = array(
			array( 'Amina', '' ),
			array( 'Amina', '   ' ),
			array( 'Amina', 12 ),
			array( "two\nlines" ),
			array( "tab\there" ),
			array( str_repeat( 'x', 1025 ) ),
			array( 'First Name' => 'x' ),
			array( 1 => 'x' ),
			'Amina',
			array_fill( 0, 101, 'x' ),
		);
		foreach ( $bad as $values ) {
			$error = Coex_Rest::message_payload( null, $template( $values ) );
			$this->assertInstanceOf( WP_Error::class, $error, json_encode( $values ) );
			$this->assertSame( 400, $error->get_error_data()['status'] );
		}
		$this->assertSame( array( str_repeat( 'é', 1024 ) ), Coex_Rest::message_payload( null, $template( array( str_repeat( 'é', 1024 ) ) ) )['template']['body_parameters'] );
	}
}
