<?php
/**
 * Fetches a thread from a running CoEx server through the plugin's own signed client (real HTTP),
 * for test/ui-real-server-woocommerce.test.ts. Usage:
 *   COEX_LIVE_HTTP=1 php tests/live-thread.php <server url> <extension key> <site url> <phone>
 *
 * @package CoexWhatsApp
 */

require __DIR__ . '/bootstrap.php';

list( , $server, $key, $site, $phone ) = $argv;
$client = new Coex_Extension_Client( $server, $key, $site );
$result = $client->get_thread( $phone );
if ( is_wp_error( $result ) ) {
	echo json_encode( array( 'error' => $result->get_error_code(), 'message' => $result->get_error_message() ) ), "\n";
	exit( 0 );
}
echo json_encode( $result, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE ), "\n";
