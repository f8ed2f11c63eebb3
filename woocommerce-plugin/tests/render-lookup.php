<?php
/**
 * Prints the lookup route's responses for the demo store as JSON, for the vitest contract test
 * (test/woocommerce-plugin.test.ts parses them with the connector's zod schema).
 * Usage: php tests/render-lookup.php
 *
 * @package CoexWhatsApp
 */

require __DIR__ . '/bootstrap.php';

Coex_Test_WP::reset();
Coex_Test_Fixtures::configure();
Coex_Test_Fixtures::store();

$out = array();
foreach ( array( 'customer' => '+212612345678', 'nobody' => '+212699999999', 'guest' => '+212612345679' ) as $name => $phone ) {
	$request = new WP_REST_Request( 'GET', '/coex/v1/lookup' );
	$request->set_header( 'X-Coex-Site-Key', Coex_Test_Fixtures::SITE_KEY );
	$request->set_param( 'phone', $phone );
	$out[ $name ] = Coex_Rest::lookup( $request )->get_data();
}
$bad = Coex_Rest::check_site_key( new WP_REST_Request( 'GET', '/coex/v1/lookup' ) );
// WP_REST_Server::error_to_response() shape: { code, message, data: { status } }.
$out['unauthorized'] = array(
	'code'    => $bad->get_error_code(),
	'message' => $bad->get_error_message(),
	'data'    => $bad->get_error_data(),
);
echo json_encode( $out, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRETTY_PRINT ), "\n";
