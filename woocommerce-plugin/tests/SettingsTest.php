<?php
/**
 * Settings sanitization, secret handling and "Test connection".
 *
 * @package CoexWhatsApp
 */

use PHPUnit\Framework\TestCase;

final class SettingsTest extends TestCase {

	protected function setUp(): void {
		Coex_Test_WP::reset();
	}

	public function test_sanitize_hashes_the_site_key_and_keeps_secrets_when_left_empty() {
		$saved = Coex_Settings::sanitize(
			array(
				'server_url'        => ' https://coex.example.com/ ',
				'site_key'          => ' sk_live_1 ',
				'extension_key'     => 'ext_1',
				'template_name'     => 'order_follow_up',
			)
		);
		$this->assertSame( 'https://coex.example.com', $saved['server_url'] );
		$this->assertSame( hash( 'sha256', 'sk_live_1' ), $saved['site_key_hash'] );
		$this->assertSame( 'ext_1', $saved['extension_key'] );
		$this->assertSame( array( 'server_url', 'site_key_hash', 'extension_key', 'allow_private_server' ), array_keys( $saved ), 'no template setting any more: CoEx lists the approved ones' );

		update_option( Coex_Settings::OPTION, $saved );
		$again = Coex_Settings::sanitize( array( 'server_url' => 'https://coex.example.com', 'site_key' => '', 'extension_key' => '  ' ) );
		$this->assertSame( $saved['site_key_hash'], $again['site_key_hash'] );
		$this->assertSame( 'ext_1', $again['extension_key'] );
		$this->assertTrue( Coex_Settings::site_key_matches( 'sk_live_1' ) );
		$this->assertFalse( Coex_Settings::site_key_matches( 'sk_live_2' ) );
	}

	public function test_sanitize_is_idempotent_for_the_first_save_double_pass() {
		$first = Coex_Settings::sanitize( array( 'server_url' => 'https://coex.example.com', 'site_key' => 'sk_1', 'extension_key' => 'ext_1' ) );
		// The option does not exist yet, so WordPress sanitizes again with the first pass's output.
		$this->assertSame( $first, Coex_Settings::sanitize( $first ) );
		$this->assertSame( hash( 'sha256', 'sk_1' ), $first['site_key_hash'] );
		$this->assertSame( '', Coex_Settings::sanitize( array( 'site_key_hash' => 'not-a-hash' ) )['site_key_hash'] );
	}

	public function test_sanitize_rejects_bad_urls_and_drops_the_old_template_setting() {
		// A store upgraded from 0.1.0 still has the template fields in its option.
		update_option( Coex_Settings::OPTION, array( 'server_url' => 'https://ok.example', 'template_name' => 'order_follow_up', 'template_language' => 'fr' ) );
		$this->assertArrayNotHasKey( 'template_name', Coex_Settings::get() );
		$saved = Coex_Settings::sanitize( array( 'server_url' => 'javascript:alert(1)', 'template_language' => 'french' ) );
		$this->assertSame( 'https://ok.example', $saved['server_url'] );
		$this->assertArrayNotHasKey( 'template_language', $saved );
		$this->assertSame( 'coex_server_url', Coex_Test_WP::$settings_errors[0]['code'] );
		$this->assertSame( Coex_Settings::get(), Coex_Settings::sanitize( 'garbage' ), 'a non-array post changes nothing' );
	}

	public function test_secrets_are_never_printed_in_the_form() {
		Coex_Test_Fixtures::configure();
		ob_start();
		Coex_Settings::field_site_key();
		Coex_Settings::field_extension_key();
		Coex_Settings::field_server_url();
		$html = (string) ob_get_clean();
		$this->assertStringNotContainsString( Coex_Test_Fixtures::EXTENSION_KEY, $html );
		$this->assertStringNotContainsString( hash( 'sha256', Coex_Test_Fixtures::SITE_KEY ), $html );
		$this->assertStringContainsString( 'value="https://coex.example.com"', $html );
		$this->assertSame( 2, substr_count( $html, 'Stored — leave empty to keep' ) );
	}

	public function test_connection_reports_success_and_failures() {
		$this->assertFalse( Coex_Settings::test_connection()['ok'], 'not configured' );

		Coex_Test_Fixtures::configure();
		Coex_Test_WP::$http_queue = array( Coex_Test_Fixtures::http( 200, array( 'thread' => null, 'messages' => array(), 'sync' => null ) ) );
		$this->assertTrue( Coex_Settings::test_connection()['ok'] );
		$this->assertStringStartsWith( 'https://coex.example.com/ext/v1/woocommerce/thread?phone=', Coex_Test_WP::$http_log[0]['url'] );

		Coex_Test_WP::$http_queue = array( Coex_Test_Fixtures::http( 401, array( 'code' => 'bad_signature' ) ) );
		$result                   = Coex_Settings::test_connection();
		$this->assertFalse( $result['ok'] );
		$this->assertStringContainsString( 'extension key', $result['message'] );
	}

	public function test_shop_managers_can_save_the_settings_page() {
		Coex_Settings::init();
		// options.php asks for this filter's answer instead of manage_options.
		$this->assertSame( 'manage_woocommerce', apply_filters( 'option_page_capability_coex_whatsapp', 'manage_options' ) );
	}

	public function test_server_url_accepts_any_port_and_refuses_private_hosts_unless_allowed() {
		$saved = Coex_Settings::sanitize( array( 'server_url' => 'https://coex.example.com:3000/' ) );
		$this->assertSame( 'https://coex.example.com:3000', $saved['server_url'], 'coex serve listens on 3000' );
		$this->assertSame( array(), Coex_Test_WP::$settings_errors );

		update_option( Coex_Settings::OPTION, $saved );
		foreach ( array( 'http://127.0.0.1:3000', 'http://localhost:3000', 'http://192.168.1.20:3000', 'http://10.0.0.5', 'http://[::1]:3000' ) as $private ) {
			Coex_Test_WP::$settings_errors = array();
			$out                           = Coex_Settings::sanitize( array( 'server_url' => $private ) );
			$this->assertSame( 'https://coex.example.com:3000', $out['server_url'], "$private refused without the setting" );
			$this->assertStringContainsString( 'private network', Coex_Test_WP::$settings_errors[0]['message'] );
			$this->assertStringContainsString( $private, Coex_Test_WP::$settings_errors[0]['message'], 'the error quotes what was typed' );
		}

		$allowed = Coex_Settings::sanitize( array( 'server_url' => 'http://127.0.0.1:3000', 'allow_private_server' => 'yes' ) );
		$this->assertSame( 'http://127.0.0.1:3000', $allowed['server_url'] );
		$this->assertSame( 'yes', $allowed['allow_private_server'] );
		$this->assertSame( $allowed, Coex_Settings::sanitize( $allowed ), 'second pass keeps the flag' );
		$unticked = Coex_Settings::sanitize( array( 'server_url' => 'https://coex.example.com' ) );
		$this->assertSame( 'no', $unticked['allow_private_server'], 'an unticked checkbox posts nothing' );

		add_filter(
			'coex_whatsapp_allow_private_server_url',
			static function () {
				return true;
			}
		);
		$this->assertSame( 'http://10.0.0.5:3000', Coex_Settings::sanitize( array( 'server_url' => 'http://10.0.0.5:3000' ) )['server_url'], 'an operator filter allows it too' );
	}

	public function test_a_refused_url_stays_in_the_form_with_a_precise_reason() {
		update_option( Coex_Settings::OPTION, array( 'server_url' => 'https://coex.example.com' ) );
		Coex_Settings::sanitize( array( 'server_url' => 'ftp://coex.example.com' ) );
		$this->assertStringContainsString( 'must start with https://', Coex_Test_WP::$settings_errors[0]['message'] );
		Coex_Settings::sanitize( array( 'server_url' => 'https://coex.example.com:99999' ) );
		$this->assertStringContainsString( 'between 1 and 65535', Coex_Test_WP::$settings_errors[1]['message'] );

		ob_start();
		Coex_Settings::field_server_url();
		$html = (string) ob_get_clean();
		$this->assertStringContainsString( 'value="https://coex.example.com:99999"', $html, 'what was typed, not the stored value' );
		ob_start();
		Coex_Settings::field_server_url();
		$this->assertStringContainsString( 'value="https://coex.example.com"', (string) ob_get_clean(), 'shown once' );
	}
}
