<?php
/**
 * The order screen routes: nonce + capability checks, the proxy to CoEx's extension API (signed),
 * error mapping, bot toggle and replies.
 *
 * @package CoexWhatsApp
 */

use PHPUnit\Framework\TestCase;

final class TimelineRouteTest extends TestCase {

	/** @var string */
	private $nonce;

	protected function setUp(): void {
		Coex_Test_WP::reset();
		Coex_Test_Fixtures::configure();
		Coex_Test_Fixtures::store();
		Coex_Test_Fixtures::notes();
		Coex_Test_WP::$caps['edit_shop_orders'] = true;
		$this->nonce                            = wp_create_nonce( 'wp_rest' );
	}

	private function request( $method, $order_id, array $params = array(), $nonce = null ) {
		$request = new WP_REST_Request( $method, '/coex/v1/orders/' . $order_id );
		$request->set_header( 'X-WP-Nonce', null === $nonce ? $this->nonce : $nonce );
		$request->set_param( 'id', (string) $order_id );
		foreach ( $params as $k => $v ) {
			$request->set_param( $k, $v );
		}
		return $request;
	}

	private static function thread_body() {
		return array(
			'thread'   => array(
				'id'           => 'thr_42',
				'contact_name' => 'Amina',
				'wa_id'        => '212612345678',
				'bot'          => array( 'state' => 'active', 'paused_until' => null, 'history' => array() ),
				'window'       => array( 'open' => true, 'closes_at' => '2026-02-21T10:00:00Z' ),
			),
			'messages' => array(
				array( 'id' => 'm-1', 'direction' => 'inbound', 'origin' => 'customer', 'type' => 'text', 'text' => 'Salam', 'timestamp' => '2026-02-20T10:02:00Z', 'status' => null, 'transcript' => null, 'transcript_state' => null, 'wamid' => 'wamid.X' ),
			),
			'sync'     => array( 'history' => 'complete' ),
		);
	}

	public function test_routes_are_registered_with_the_user_check() {
		Coex_Rest::register_routes();
		foreach ( array( 'timeline' => 'GET', 'bot' => 'POST', 'messages' => 'POST' ) as $name => $method ) {
			$route = Coex_Test_WP::$routes[ 'coex/v1/orders/(?P<id>\d+)/' . $name ];
			$this->assertSame( $method, $route['methods'] );
			$this->assertSame( array( 'Coex_Rest', 'check_order_user' ), $route['permission_callback'] );
		}
		$this->assertSame( array( 'pause', 'resume', 'off' ), Coex_Test_WP::$routes['coex/v1/orders/(?P<id>\d+)/bot']['args']['action']['enum'] );
	}

	public function test_nonce_and_capability_are_both_required() {
		$this->assertTrue( Coex_Rest::check_order_user( $this->request( 'GET', 1003 ) ) );

		$missing = Coex_Rest::check_order_user( $this->request( 'GET', 1003, array(), '' ) );
		$this->assertSame( 'rest_cookie_invalid_nonce', $missing->get_error_code() );
		$this->assertSame( 403, $missing->get_error_data()['status'] );

		$other_action = wp_create_nonce( 'coex_whatsapp_test_connection' );
		$this->assertSame( 'rest_cookie_invalid_nonce', Coex_Rest::check_order_user( $this->request( 'GET', 1003, array(), $other_action ) )->get_error_code() );

		Coex_Test_WP::$caps = array( 'read' => true );
		$forbidden          = Coex_Rest::check_order_user( $this->request( 'GET', 1003 ) );
		$this->assertSame( 'rest_forbidden', $forbidden->get_error_code() );
		$this->assertSame( 403, $forbidden->get_error_data()['status'] );
	}

	public function test_timeline_proxies_signed_and_merges_order_events() {
		Coex_Test_WP::$http_queue[] = Coex_Test_Fixtures::http( 200, self::thread_body() );
		$response                   = Coex_Rest::timeline( $this->request( 'GET', 1003 ) );
		$this->assertSame( 200, $response->get_status() );
		$data = $response->get_data();

		$sent = Coex_Test_WP::$http_log[0];
		$this->assertSame( 'https://coex.example.com/ext/v1/woocommerce/thread?phone=%2B212612345678', $sent['url'] );
		$this->assertSame( 'GET', $sent['args']['method'] );
		$this->assertNull( $sent['args']['body'] );
		$h = $sent['args']['headers'];
		$this->assertSame( 'https://shop.example.ma', $h['X-Coex-Account'] );
		$this->assertSame(
			Coex_Signer::signature( Coex_Test_Fixtures::EXTENSION_KEY, 'GET', '/ext/v1/woocommerce/thread?phone=%2B212612345678', $h['X-Coex-Timestamp'], $h['X-Coex-Nonce'], '' ),
			$h['X-Coex-Signature']
		);
		$this->assertArrayNotHasKey( 'X-Coex-Site-Key', $h, 'the extension key never travels; only its signature does' );

		$this->assertSame( array( 'id' => 1003, 'number' => '1003', 'status' => 'processing', 'phone' => '+212612345678' ), $data['order'] );
		$this->assertSame( 'thr_42', $data['thread']['id'] );
		$this->assertSame( array( 'open' => true, 'closes_at' => '2026-02-21T10:00:00Z' ), $data['thread']['window'] );
		$this->assertArrayNotHasKey( 'wamid', $data['messages'][0], 'only the fields the timeline uses are passed to the browser' );
		$this->assertSame( array( 'history' => 'complete' ), $data['sync'] );
		$this->assertArrayNotHasKey( 'template', $data, 'templates come from CoEx (GET /templates), not from a setting' );

		// Creation, the customer note, payment, the status change; CoEx's archive notes (data-coex-refs and legacy [coex:…]) are left out.
		$this->assertSame( array( 'created', 'note', 'paid', 'status' ), array_column( $data['events'], 'type' ) );
		$status = $data['events'][3];
		$this->assertSame( array( 'Pending payment', 'Processing', '2026-02-20T10:05:00Z' ), array( $status['from'], $status['to'], $status['at'] ) );
		$this->assertSame( 'Customer asked for gift wrap', $data['events'][1]['text'], 'tags stripped' );
		$this->assertTrue( $data['events'][1]['customer_note'] );
	}

	public function test_order_without_phone_skips_coex() {
		Coex_Test_WP::$orders[3000] = new WC_Order( array( 'id' => 3000, 'billing_phone' => '' ) );
		$data                       = Coex_Rest::timeline( $this->request( 'GET', 3000 ) )->get_data();
		$this->assertNull( $data['order']['phone'] );
		$this->assertNull( $data['thread'] );
		$this->assertSame( array(), Coex_Test_WP::$http_log );
	}

	public function test_unknown_order_is_404() {
		$this->assertSame( 'coex_order_not_found', Coex_Rest::timeline( $this->request( 'GET', 9999 ) )->get_error_code() );
	}

	public function test_errors_are_mapped_and_keep_the_order_events() {
		$cases = array(
			array( new WP_Error( 'http_request_failed', 'Operation timed out after 10001 milliseconds' ), 'coex_unreachable', 502 ),
			array( Coex_Test_Fixtures::http( 401, array( 'code' => 'bad_signature', 'message' => 'no' ) ), 'coex_auth_failed', 502 ),
			array( Coex_Test_Fixtures::http( 500, '<html>oops</html>' ), 'coex_upstream_error', 502 ),
			array( Coex_Test_Fixtures::http( 200, 'not json' ), 'coex_bad_response', 502 ),
			array( Coex_Test_Fixtures::http( 429, array() ), 'coex_rate_limited', 429 ),
			array( Coex_Test_Fixtures::http( 400, array( 'code' => 'invalid_phone', 'error' => 'phone must be a phone number' ) ), 'coex_invalid_phone', 400 ),
			array( Coex_Test_Fixtures::http( 502, array( 'code' => 'send_failed', 'error' => 'WhatsApp refused it', 'meta_code' => 131049 ) ), 'coex_send_failed', 502 ),
		);
		foreach ( $cases as list( $reply, $code, $status ) ) {
			Coex_Test_WP::$http_queue = array( $reply );
			$error                    = Coex_Rest::timeline( $this->request( 'GET', 1003 ) );
			$this->assertInstanceOf( WP_Error::class, $error, $code );
			$this->assertSame( $code, $error->get_error_code() );
			$data = $error->get_error_data();
			$this->assertSame( $status, $data['status'] );
			$this->assertCount( 4, $data['events'], 'the order history still reaches the browser' );
		}
		Coex_Test_WP::$http_queue = array( Coex_Test_Fixtures::http( 400, array( 'code' => 'invalid_phone', 'error' => 'phone must be a phone number' ) ) );
		$this->assertSame( 'phone must be a phone number', Coex_Rest::timeline( $this->request( 'GET', 1003 ) )->get_error_message(), "CoEx's own explanation reaches the user" );
		$this->assertStringContainsString( 'timed out', ( new Coex_Extension_Client( 'https://x', 'k', 'a' ) )->map_response( new WP_Error( 'x', 'timed out' ) )->get_error_message() );
	}

	public function test_not_configured_is_503() {
		update_option( Coex_Settings::OPTION, array() );
		$error = Coex_Rest::timeline( $this->request( 'GET', 1003 ) );
		$this->assertSame( 'coex_not_configured', $error->get_error_code() );
		$this->assertSame( 503, $error->get_error_data()['status'] );
		$this->assertSame( array(), Coex_Test_WP::$http_log );
	}

	public function test_bot_toggle_resolves_the_thread_from_the_order() {
		Coex_Test_WP::$http_queue = array(
			Coex_Test_Fixtures::http( 200, self::thread_body() ),
			Coex_Test_Fixtures::http( 200, array( 'bot' => array( 'state' => 'paused', 'paused_until' => null ) ) ),
		);
		$response = Coex_Rest::bot( $this->request( 'POST', 1003, array( 'action' => 'pause' ) ) );
		$this->assertSame( array( 'bot' => array( 'state' => 'paused', 'paused_until' => null ) ), $response->get_data() );
		$post = Coex_Test_WP::$http_log[1];
		$this->assertSame( 'https://coex.example.com/ext/v1/woocommerce/threads/thr_42/bot', $post['url'] );
		$body = '{"action":"pause","actor":"manager@shop.example.ma"}';
		$this->assertSame( $body, $post['args']['body'], 'the acting WordPress user is recorded by CoEx' );
		$this->assertSame(
			Coex_Signer::signature( Coex_Test_Fixtures::EXTENSION_KEY, 'POST', '/ext/v1/woocommerce/threads/thr_42/bot', $post['args']['headers']['X-Coex-Timestamp'], $post['args']['headers']['X-Coex-Nonce'], $body ),
			$post['args']['headers']['X-Coex-Signature']
		);

		$this->assertSame( 'rest_invalid_param', Coex_Rest::bot( $this->request( 'POST', 1003, array( 'action' => 'explode' ) ) )->get_error_code() );
	}

	public function test_no_thread_is_404() {
		Coex_Test_WP::$http_queue = array( Coex_Test_Fixtures::http( 200, array( 'thread' => null, 'messages' => array(), 'sync' => null ) ) );
		$error                    = Coex_Rest::bot( $this->request( 'POST', 1003, array( 'action' => 'pause' ) ) );
		$this->assertSame( 'coex_no_thread', $error->get_error_code() );
		$this->assertCount( 1, Coex_Test_WP::$http_log, 'nothing posted without a thread' );
	}

	public function test_reply_text_and_window_closed() {
		Coex_Test_WP::$http_queue = array(
			Coex_Test_Fixtures::http( 200, self::thread_body() ),
			Coex_Test_Fixtures::http( 409, array( 'error' => 'The 24-hour window is closed', 'code' => 'window_closed', 'hint' => 'send a template', 'closed_at' => null ) ),
		);
		$error = Coex_Rest::send_message( $this->request( 'POST', 1003, array( 'text' => '  Votre colis part demain  ', 'client_ref' => 'ref_0123456789' ) ) );
		$this->assertSame( 'coex_window_closed', $error->get_error_code() );
		$this->assertSame( 409, $error->get_error_data()['status'] );
		$this->assertSame( 'https://coex.example.com/ext/v1/woocommerce/threads/thr_42/messages', Coex_Test_WP::$http_log[1]['url'] );
		$this->assertSame( '{"text":"Votre colis part demain","actor":"manager@shop.example.ma","client_ref":"ref_0123456789"}', Coex_Test_WP::$http_log[1]['args']['body'] );
	}

	public function test_reply_template() {
		Coex_Test_WP::$http_queue = array(
			Coex_Test_Fixtures::http( 200, self::thread_body() ),
			Coex_Test_Fixtures::http( 201, array( 'message' => array( 'id' => 'm-9' ) ) ),
		);
		$response = Coex_Rest::send_message( $this->request( 'POST', 1003, array( 'template' => array( 'name' => 'order_follow_up', 'language' => 'fr' ), 'client_ref' => 'no spaces allowed' ) ) );
		$this->assertSame( array( 'message' => array( 'id' => 'm-9' ) ), $response->get_data() );
		$this->assertSame( '{"template":{"name":"order_follow_up","language":"fr"},"actor":"manager@shop.example.ma"}', Coex_Test_WP::$http_log[1]['args']['body'], 'a malformed client_ref is dropped' );
	}

	public function test_reply_validation() {
		$bad = array(
			array( null, null ),
			array( '   ', null ),
			array( 'hi', array( 'name' => 'order_follow_up', 'language' => 'fr' ) ),
			array( null, array( 'name' => 'Order Follow Up', 'language' => 'fr' ) ),
			array( null, array( 'name' => 'order_follow_up' ) ),
			array( str_repeat( 'x', 4097 ), null ),
		);
		foreach ( $bad as list( $text, $template ) ) {
			$this->assertSame( 'rest_invalid_param', Coex_Rest::message_payload( $text, $template )->get_error_code() );
		}
		$this->assertSame( array( 'text' => str_repeat( 'é', 4096 ) ), Coex_Rest::message_payload( str_repeat( 'é', 4096 ), null ) );
	}
}
