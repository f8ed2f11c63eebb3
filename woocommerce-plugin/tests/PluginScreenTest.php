<?php
/**
 * The plugin's row on the Plugins screen and its notice when WooCommerce is missing.
 *
 * @package CoexWhatsApp
 */

use PHPUnit\Framework\TestCase;

final class PluginScreenTest extends TestCase {

	protected function setUp(): void {
		Coex_Test_WP::reset();
	}

	public function test_settings_link_comes_first_and_opens_the_settings_page() {
		$links = coex_whatsapp_plugin_action_links( array( 'deactivate' => '<a href="#">Deactivate</a>' ) );
		$this->assertSame( array( 'settings', 'deactivate' ), array_keys( $links ) );
		$this->assertStringContainsString( 'href="https://shop.example.ma/wp-admin/admin.php?page=coex-whatsapp"', $links['settings'] );
		$this->assertStringContainsString( '>Settings</a>', $links['settings'] );
	}

	public function test_settings_link_is_hooked_on_this_plugins_row_when_woocommerce_is_active() {
		do_action( 'plugins_loaded' );
		$this->assertContains( 'coex_whatsapp_plugin_action_links', Coex_Test_WP::$filters['plugin_action_links_woocommerce-plugin/coex-whatsapp.php'] ?? array() );
		$this->assertArrayNotHasKey( 'admin_notices', Coex_Test_WP::$actions );
	}

	public function test_notice_tells_administrators_that_woocommerce_is_required() {
		Coex_Test_WP::$caps = array( 'activate_plugins' => true );
		ob_start();
		coex_whatsapp_woocommerce_missing_notice();
		$html = ob_get_clean();
		$this->assertStringContainsString( 'notice-error', $html );
		$this->assertStringContainsString( 'requires WooCommerce', $html );

		Coex_Test_WP::$caps = array( 'edit_shop_orders' => true );
		ob_start();
		coex_whatsapp_woocommerce_missing_notice();
		$this->assertSame( '', ob_get_clean(), 'only those who can activate plugins see it' );
	}

	public function test_without_woocommerce_it_only_shows_the_notice() {
		$php = escapeshellarg( PHP_BINARY );
		$out = shell_exec( $php . ' ' . escapeshellarg( __DIR__ . '/no-woocommerce.php' ) . ' 2>&1' );
		$run = json_decode( (string) $out, true );
		$this->assertIsArray( $run, (string) $out );
		$this->assertStringContainsString( 'requires WooCommerce', $run['notices'] );
		$this->assertContains( 'admin_notices', $run['hooks'] );
		foreach ( $run['hooks'] as $hook ) {
			$this->assertStringStartsNotWith( 'plugin_action_links_', $hook, 'no Settings link to a page that is not registered' );
			$this->assertNotContains( $hook, array( 'admin_menu', 'rest_api_init', 'add_meta_boxes' ) );
		}
	}
}
