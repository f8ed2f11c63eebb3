<?php
/**
 * Removes what the plugin stored: its settings, pending indexing jobs and test-connection notices.
 * The `_coex_billing_phone_e164` order meta is left in place: it is harmless, and deleting it from
 * every order of a large store in one uninstall request could time out.
 *
 * @package CoexWhatsApp
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'coex_whatsapp_settings' );
if ( function_exists( 'as_unschedule_all_actions' ) ) {
	as_unschedule_all_actions( 'coex_whatsapp_index_phones' );
}
global $wpdb;
// Transients are per user ("coex_whatsapp_test_result_<id>"), so they are deleted by prefix.
$wpdb->query( $wpdb->prepare( "DELETE FROM {$wpdb->options} WHERE option_name LIKE %s OR option_name LIKE %s", $wpdb->esc_like( '_transient_coex_whatsapp_test_result_' ) . '%', $wpdb->esc_like( '_transient_timeout_coex_whatsapp_test_result_' ) . '%' ) ); // phpcs:ignore WordPress.DB.DirectDatabaseQuery
