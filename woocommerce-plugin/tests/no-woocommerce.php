<?php
/**
 * Loads the plugin the way WordPress does when WooCommerce is not active (only the few WordPress
 * functions the plugin calls at load; no WooCommerce function or class), runs plugins_loaded and
 * admin_notices, and prints what got hooked and shown as JSON. Used by PluginScreenTest.
 *
 * @package CoexWhatsApp
 */

define( 'ABSPATH', __DIR__ . '/' );
$GLOBALS['coex_hooks'] = array();
function add_action( $hook, $callback ) {
	$GLOBALS['coex_hooks'][ $hook ][] = $callback;
}
function add_filter( $hook, $callback ) {
	$GLOBALS['coex_hooks'][ $hook ][] = $callback;
}
function register_activation_hook( $file, $cb ) {
}
function register_deactivation_hook( $file, $cb ) {
}
function current_user_can( $cap ) {
	return 'activate_plugins' === $cap;
}
function esc_html__( $text, $domain ) {
	return htmlspecialchars( $text, ENT_QUOTES );
}
function run_hooks( $hook ) {
	foreach ( isset( $GLOBALS['coex_hooks'][ $hook ] ) ? $GLOBALS['coex_hooks'][ $hook ] : array() as $cb ) {
		call_user_func( $cb );
	}
}

require dirname( __DIR__ ) . '/coex-whatsapp.php';
run_hooks( 'plugins_loaded' );
ob_start();
run_hooks( 'admin_notices' );
$notices = ob_get_clean();
echo json_encode(
	array(
		'hooks'   => array_keys( $GLOBALS['coex_hooks'] ),
		'notices' => $notices,
	)
);
