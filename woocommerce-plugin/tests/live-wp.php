<?php
/**
 * A stand-in WordPress for test/ui-real-server-woocommerce.test.ts: PHP's built-in server runs the
 * plugin's own REST handlers and meta box (WordPress and WooCommerce stubbed by bootstrap.php, a
 * logged-in order manager), and the plugin calls a running CoEx server over real HTTP, signed with
 * its extension key. Headless Chromium loads /order/<id> and the real coex-timeline.js talks to
 * /wp-json/coex/v1/… here, as on a store.
 *
 *   COEX_LIVE_HTTP=1 COEX_SERVER=<coex url> COEX_KEY=<extension key> COEX_ORDERS='{"2002":"06 12 70 07 03"}' \
 *     php -S 127.0.0.1:<port> tests/live-wp.php
 *
 * The site URL (the key's account) is this server's own origin. Not modelled: WordPress's REST
 * server (argument schemas are not applied: the handlers validate what they use), cookies (the
 * nonce is still required), other users.
 * GET /order/<id>?driver=<name> adds a test driver script from tests/live-drivers/<name>.js.
 *
 * @package CoexWhatsApp
 */

require __DIR__ . '/bootstrap.php';

$origin              = 'http://' . $_SERVER['HTTP_HOST'];
Coex_Test_WP::$home = $origin;
update_option(
	Coex_Settings::OPTION,
	array(
		'server_url'    => (string) getenv( 'COEX_SERVER' ),
		'site_key_hash' => '',
		'extension_key' => (string) getenv( 'COEX_KEY' ),
	)
);
foreach ( (array) json_decode( (string) getenv( 'COEX_ORDERS' ), true ) as $id => $phone ) {
	Coex_Test_WP::$orders[ (int) $id ] = new WC_Order(
		array(
			'id'            => (int) $id,
			'billing_phone' => (string) $phone,
			'created'       => gmdate( 'Y-m-d\TH:i:s\Z', time() - 3 * 86400 ),
		)
	);
}
// A logged-in shop manager; the wp_rest nonce is deterministic in the stubs, so page and API agree.
Coex_Test_WP::$caps['edit_shop_orders'] = true;
wp_create_nonce( 'wp_rest' );
Coex_Rest::register_routes();

$path = (string) parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH );

/**
 * Sends a JSON answer the way WordPress's REST server does (WP_Error → { code, message, data }).
 *
 * @param WP_REST_Response|WP_Error $result Handler result.
 */
function coex_live_json( $result ) {
	if ( $result instanceof WP_Error ) {
		$data   = $result->get_error_data();
		$status = is_array( $data ) && isset( $data['status'] ) ? (int) $data['status'] : 500;
		$body   = array(
			'code'    => $result->get_error_code(),
			'message' => $result->get_error_message(),
			'data'    => $data,
		);
	} else {
		$status = $result->get_status();
		$body   = $result->get_data();
	}
	http_response_code( $status );
	header( 'Content-Type: application/json; charset=UTF-8' );
	echo json_encode( $body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE );
}

if ( 0 === strpos( $path, '/wp-json/' ) ) {
	$route = substr( $path, strlen( '/wp-json/' ) );
	foreach ( Coex_Test_WP::$routes as $pattern => $def ) {
		if ( ! preg_match( '#^' . $pattern . '$#', $route, $m ) || $def['methods'] !== $_SERVER['REQUEST_METHOD'] ) {
			continue;
		}
		$request = new WP_REST_Request( $_SERVER['REQUEST_METHOD'], '/' . $route );
		foreach ( $_SERVER as $name => $value ) {
			if ( 0 === strpos( $name, 'HTTP_' ) ) {
				$request->set_header( substr( $name, 5 ), $value );
			}
		}
		$json = json_decode( (string) file_get_contents( 'php://input' ), true );
		foreach ( array_merge( $_GET, is_array( $json ) ? $json : array() ) as $k => $v ) {
			$request->set_param( $k, $v );
		}
		foreach ( $m as $k => $v ) {
			if ( is_string( $k ) ) {
				$request->set_param( $k, $v );
			}
		}
		$allowed = call_user_func( $def['permission_callback'], $request );
		coex_live_json( true === $allowed ? call_user_func( $def['callback'], $request ) : $allowed );
		return true;
	}
	coex_live_json( new WP_Error( 'rest_no_route', 'No route was found matching the URL and request method.', array( 'status' => 404 ) ) );
	return true;
}

if ( preg_match( '#^/assets/(css/coex-timeline\.css|js/coex-timeline\.js|js/vendor/coex-thread-view\.js)$#', $path, $m ) ) {
	header( 'Content-Type: ' . ( '.js' === substr( $m[1], -3 ) ? 'text/javascript' : 'text/css' ) );
	readfile( dirname( __DIR__ ) . '/assets/' . $m[1] );
	return true;
}

if ( preg_match( '#^/order/(\d+)$#', $path, $m ) ) {
	$driver = isset( $_GET['driver'] ) && preg_match( '/^[a-z-]+$/', $_GET['driver'] ) ? __DIR__ . '/live-drivers/' . $_GET['driver'] . '.js' : '';
	header( 'Content-Type: text/html; charset=UTF-8' );
	echo '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Edit order</title>';
	echo '<link rel="stylesheet" href="/assets/css/coex-timeline.css"></head><body><div class="postbox"><h2>WhatsApp</h2><div class="inside">';
	Coex_Order_Metabox::render( wc_get_order( (int) $m[1] ) );
	echo '</div></div><script type="module" src="/assets/js/coex-timeline.js"></script>';
	if ( '' !== $driver && is_file( $driver ) ) {
		echo '<script>' . file_get_contents( $driver ) . '</script>'; // phpcs:ignore WordPress.Security.EscapeOutput
	}
	echo '</body></html>';
	return true;
}

http_response_code( 404 );
echo 'not found';
return true;
