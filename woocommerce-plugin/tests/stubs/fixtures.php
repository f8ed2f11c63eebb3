<?php
/**
 * Demo store data shared by the PHPUnit tests and tests/render-lookup.php (which the vitest suite
 * runs to validate the lookup JSON against the connector's zod schema).
 *
 * @package CoexWhatsApp
 */

/** Seeds. */
final class Coex_Test_Fixtures {

	const SITE_KEY      = 'coex_sk_test_site_key_0123456789';
	const EXTENSION_KEY = 'coex_ext_test_key_5f1c0a9e2b';
	const SERVER        = 'https://coex.example.com';

	/** Settings as saved through the settings page. */
	public static function configure() {
		update_option(
			Coex_Settings::OPTION,
			array(
				'server_url'        => self::SERVER,
				'site_key_hash'     => hash( 'sha256', self::SITE_KEY ),
				'extension_key'     => self::EXTENSION_KEY,
			)
		);
	}

	/**
	 * Amina (user 12) and orders in the spellings people type. 1004 and 1005 predate the plugin
	 * (not indexed); the others went through the before-save hook.
	 */
	public static function store() {
		Coex_Test_WP::$users[12] = array(
			'first_name'    => 'Amina',
			'last_name'     => 'E.',
			'email'         => 'a@example.ma',
			'billing_phone' => '06 12 34 56 78',
		);
		$orders = array(
			array( 'id' => 1001, 'billing_phone' => '+212 6 12 34 56 78', 'customer_id' => 12, 'created' => '2026-01-05T09:00:00Z', 'total' => '80', 'status' => 'completed' ),
			array( 'id' => 1002, 'billing_phone' => '0612345679', 'customer_id' => 0, 'created' => '2026-02-10T08:00:00Z', 'total' => '10' ),
			array( 'id' => 1003, 'billing_phone' => '06.12.34.56.78', 'customer_id' => 12, 'created' => '2026-02-20T10:00:00Z', 'total' => '120', 'status' => 'processing', 'paid' => '2026-02-20T10:05:00Z' ),
			array( 'id' => 1004, 'billing_phone' => '00212612345678', 'customer_id' => 0, 'created' => '2026-02-01T12:30:00Z', 'total' => '45.5', 'status' => 'on-hold' ),
			array( 'id' => 1005, 'billing_phone' => '06-12-34-56-78', 'customer_id' => 0, 'created' => '2025-12-24T18:00:00Z', 'total' => '15', 'status' => 'cancelled' ),
		);
		foreach ( $orders as $props ) {
			$order                                     = new WC_Order( $props );
			Coex_Test_WP::$orders[ $order->get_id() ] = $order;
			if ( $order->get_id() < 1004 ) {
				Coex_Phone_Index::before_save( $order );
			}
		}
	}

	/** Notes of order 1003, newest first as wc_get_order_notes returns them. */
	public static function notes() {
		Coex_Test_WP::$notes[1003] = array(
			self::note( 4, '2026-02-21T09:30:00Z', "💬 WhatsApp · 1 message\n[2026-02-21 09:30 UTC] 👤 Customer: Salam<span data-coex-refs=\"m-3\"></span>" ),
			self::note( 3, '2026-02-21T09:00:00Z', 'WhatsApp 2026-02-21 [coex:m-1 m-2]' ),
			self::note( 2, '2026-02-20T10:05:00Z', 'Payment via Cash on delivery. Order status changed from Pending payment to Processing.' ),
			self::note( 1, '2026-02-20T10:00:30Z', 'Customer asked for <b>gift wrap</b>', true ),
		);
	}

	/**
	 * One order note as wc_get_order_notes() returns it.
	 *
	 * @param int    $id       Id.
	 * @param string $at       ISO time.
	 * @param string $content  Content.
	 * @param bool   $customer Customer note.
	 * @return object
	 */
	public static function note( $id, $at, $content, $customer = false ) {
		return (object) array(
			'id'            => $id,
			'date_created'  => new WC_DateTime( $at ),
			'content'       => $content,
			'customer_note' => $customer,
			'added_by'      => 'system',
		);
	}

	/** A JSON HTTP API response. */
	public static function http( $status, $body ) {
		return array(
			'response' => array( 'code' => $status ),
			'body'     => is_string( $body ) ? $body : json_encode( $body ),
		);
	}
}
