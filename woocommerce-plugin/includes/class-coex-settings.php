<?php
/**
 * Settings: CoEx server URL, site key (checked on CoEx's lookup calls; only its SHA-256 is stored),
 * extension key (signs the plugin's calls to CoEx; stored as typed because HMAC needs it), and a
 * "Test connection" button. There is no template setting: the order screen lists the approved
 * templates CoEx reads from Meta (a template name typed here went stale as soon as Meta changed).
 * Page: WooCommerce → CoEx WhatsApp, built on the Settings API.
 *
 * @package CoexWhatsApp
 */

defined( 'ABSPATH' ) || exit;

/**
 * Options and the settings screen.
 */
final class Coex_Settings {

	const OPTION      = 'coex_whatsapp_settings';
	const GROUP       = 'coex_whatsapp';
	const PAGE        = 'coex-whatsapp';
	const TEST_ACTION = 'coex_whatsapp_test_connection';
	const NOTICE_KEY  = 'coex_whatsapp_test_result_';
	const CAPABILITY  = 'manage_woocommerce';
	/** Transient (per user) holding a server URL that was refused, so the form shows what was typed. */
	const REJECTED_URL_KEY = 'coex_whatsapp_rejected_url_';
	/** Filter: return true to accept a CoEx server on loopback or a private network without the setting. */
	const PRIVATE_URL_FILTER = 'coex_whatsapp_allow_private_server_url';

	/** Number used by "Test connection": any valid E.164 works, the answer only proves signing and reachability. */
	const PROBE_PHONE = '+212600000000';

	/**
	 * Hooks.
	 */
	public static function init() {
		add_action( 'admin_menu', array( __CLASS__, 'add_menu' ) );
		add_action( 'admin_init', array( __CLASS__, 'register' ) );
		add_action( 'admin_post_' . self::TEST_ACTION, array( __CLASS__, 'handle_test_connection' ) );
		// options.php checks manage_options unless told otherwise: shop managers open this page, so they save it too.
		add_filter( 'option_page_capability_' . self::GROUP, array( __CLASS__, 'capability' ) );
	}

	/**
	 * The capability that opens and saves the settings (option_page_capability_coex_whatsapp).
	 *
	 * @return string
	 */
	public static function capability() {
		return self::CAPABILITY;
	}

	/**
	 * Defaults of every stored field.
	 *
	 * @return array<string,string>
	 */
	public static function defaults() {
		return array(
			'server_url'           => '',
			'site_key_hash'        => '',
			'extension_key'        => '',
			// "yes": the CoEx server may be on this machine or a private network (a self-hosted setup).
			'allow_private_server' => 'no',
		);
	}

	/**
	 * Current settings merged over the defaults.
	 *
	 * @return array<string,string>
	 */
	public static function get() {
		$stored = get_option( self::OPTION, array() );
		$stored = is_array( $stored ) ? $stored : array();
		return array_merge( self::defaults(), array_intersect_key( $stored, self::defaults() ) );
	}

	/**
	 * SHA-256 hex of a site key, as stored (the key itself is never kept).
	 *
	 * @param string $site_key Key.
	 * @return string
	 */
	public static function hash_site_key( $site_key ) {
		return hash( 'sha256', $site_key );
	}

	/**
	 * Constant-time check of a presented site key against the stored hash.
	 *
	 * @param mixed $presented Header value.
	 * @return bool
	 */
	public static function site_key_matches( $presented ) {
		$stored = self::get()['site_key_hash'];
		if ( ! is_string( $presented ) || '' === $presented || '' === $stored ) {
			return false;
		}
		// Both sides are 64-char hex digests, so hash_equals never short-circuits on length.
		return hash_equals( $stored, self::hash_site_key( $presented ) );
	}

	/**
	 * The account id CoEx knows this store by: its public URL without trailing slash.
	 *
	 * @return string
	 */
	public static function account() {
		return untrailingslashit( home_url() );
	}

	/**
	 * Settings API sanitize callback. Empty secret fields keep the stored value, so secrets are
	 * never echoed back into the form.
	 *
	 * @param mixed $input Posted values.
	 * @return array<string,string>
	 */
	public static function sanitize( $input ) {
		$current = self::get();
		$input   = is_array( $input ) ? wp_unslash( $input ) : array();
		$out     = $current;

		if ( isset( $input['allow_private_server'] ) ) {
			$out['allow_private_server'] = in_array( $input['allow_private_server'], array( 'yes', '1', 'on', 1, true ), true ) ? 'yes' : 'no';
		} elseif ( isset( $input['server_url'] ) ) {
			// The form always posts server_url; an unticked checkbox posts nothing.
			$out['allow_private_server'] = 'no';
		}
		if ( isset( $input['server_url'] ) ) {
			$url = trim( (string) $input['server_url'] );
			if ( '' === $url ) {
				$out['server_url'] = '';
			} else {
				$error = self::server_url_error( $url, 'yes' === $out['allow_private_server'] );
				if ( null === $error ) {
					$out['server_url'] = untrailingslashit( esc_url_raw( $url, array( 'http', 'https' ) ) );
				} else {
					// The stored URL stays; the form shows what was typed with the reason (see field_server_url).
					set_transient( self::REJECTED_URL_KEY . get_current_user_id(), $url, 300 );
					add_settings_error( self::OPTION, 'coex_server_url', $error );
				}
			}
		}
		// WordPress runs this callback twice when the option is first created (update_option → add_option):
		// the second pass receives our own output, whose hash must survive.
		if ( isset( $input['site_key_hash'] ) && is_string( $input['site_key_hash'] ) && preg_match( '/^[0-9a-f]{64}$/', $input['site_key_hash'] ) ) {
			$out['site_key_hash'] = $input['site_key_hash'];
		}
		if ( isset( $input['site_key'] ) && '' !== trim( (string) $input['site_key'] ) ) {
			$out['site_key_hash'] = self::hash_site_key( trim( (string) $input['site_key'] ) );
		}
		if ( isset( $input['extension_key'] ) && '' !== trim( (string) $input['extension_key'] ) ) {
			$out['extension_key'] = trim( (string) $input['extension_key'] );
		}
		return $out;
	}

	/**
	 * Why a server URL cannot be used, or null when it can. Any port is fine (`coex serve` listens on
	 * 3000 by default); the host is not resolved here (the shop's DNS may differ from the operator's).
	 * Loopback, private and link-local addresses are refused unless the operator allows them (the
	 * "allow_private_server" setting or the coex_whatsapp_allow_private_server_url filter), so a
	 * mistyped URL cannot point the shop's signed requests at its own internal network by accident.
	 *
	 * @param string $url           Typed URL.
	 * @param bool   $allow_private Whether the setting allows private addresses.
	 * @return string|null
	 */
	public static function server_url_error( $url, $allow_private ) {
		// parse_url() gives up on a port over 65535: say so rather than "not a URL".
		if ( preg_match( '#^https?://[^/?\#]*:(\d+)(?:[/?\#]|$)#i', $url, $m ) && ( (int) $m[1] < 1 || (int) $m[1] > 65535 ) ) {
			/* translators: %s: the URL typed by the user */
			return sprintf( __( '“%s” is not saved: the port must be between 1 and 65535.', 'coex-whatsapp' ), $url );
		}
		$parts = wp_parse_url( $url );
		if ( ! is_array( $parts ) || empty( $parts['scheme'] ) || ! in_array( strtolower( $parts['scheme'] ), array( 'http', 'https' ), true ) ) {
			/* translators: %s: the URL typed by the user */
			return sprintf( __( '“%s” is not saved: the CoEx server URL must start with https:// (or http://).', 'coex-whatsapp' ), $url );
		}
		$host = isset( $parts['host'] ) ? strtolower( trim( $parts['host'], '[]' ) ) : '';
		if ( '' === $host || preg_match( '/[\s<>"\'\\\\]/', $url ) ) {
			/* translators: %s: the URL typed by the user */
			return sprintf( __( '“%s” is not saved: it has no valid host name.', 'coex-whatsapp' ), $url );
		}
		if ( isset( $parts['user'] ) || isset( $parts['pass'] ) ) {
			/* translators: %s: the URL typed by the user */
			return sprintf( __( '“%s” is not saved: remove the user name and password from the URL (CoEx authenticates with the keys below).', 'coex-whatsapp' ), $url );
		}
		if ( isset( $parts['port'] ) && ( (int) $parts['port'] < 1 || (int) $parts['port'] > 65535 ) ) {
			/* translators: %s: the URL typed by the user */
			return sprintf( __( '“%s” is not saved: the port must be between 1 and 65535.', 'coex-whatsapp' ), $url );
		}
		if ( self::is_private_host( $host ) && ! $allow_private && ! apply_filters( 'coex_whatsapp_allow_private_server_url', false, $url ) ) {
			return sprintf(
				/* translators: 1: the URL typed by the user, 2: its host */
				__( '“%1$s” is not saved: %2$s is this machine or a private network. If your CoEx server really runs there, tick “CoEx server on a private network” and save again.', 'coex-whatsapp' ),
				$url,
				$host
			);
		}
		return null;
	}

	/**
	 * Loopback, private (RFC 1918, fc00::/7), link-local, unspecified, or a localhost name.
	 *
	 * @param string $host Lower-case host without brackets.
	 * @return bool
	 */
	public static function is_private_host( $host ) {
		if ( 'localhost' === $host || '.localhost' === substr( $host, -10 ) ) {
			return true;
		}
		if ( false === filter_var( $host, FILTER_VALIDATE_IP ) ) {
			return false;
		}
		if ( false === filter_var( $host, FILTER_VALIDATE_IP, FILTER_FLAG_NO_PRIV_RANGE | FILTER_FLAG_NO_RES_RANGE ) ) {
			return true;
		}
		// PHP's reserved ranges miss 0.0.0.0 on some versions and the IPv6 link-local/ULA prefixes.
		return '0.0.0.0' === $host || '::' === $host || 0 === strpos( $host, 'fe80:' ) || 1 === preg_match( '/^f[cd][0-9a-f]{2}:/', $host );
	}

	/**
	 * Menu entry under WooCommerce.
	 */
	public static function add_menu() {
		add_submenu_page(
			'woocommerce',
			__( 'CoEx WhatsApp', 'coex-whatsapp' ),
			__( 'CoEx WhatsApp', 'coex-whatsapp' ),
			self::CAPABILITY,
			self::PAGE,
			array( __CLASS__, 'render_page' )
		);
	}

	/**
	 * Settings, section and fields.
	 */
	public static function register() {
		register_setting(
			self::GROUP,
			self::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( __CLASS__, 'sanitize' ),
				'default'           => self::defaults(),
				'show_in_rest'      => false,
			)
		);
		add_settings_section( 'coex_server', __( 'CoEx server', 'coex-whatsapp' ), '__return_false', self::PAGE );
		add_settings_field( 'server_url', __( 'Server URL', 'coex-whatsapp' ), array( __CLASS__, 'field_server_url' ), self::PAGE, 'coex_server' );
		add_settings_field( 'site_key', __( 'Site key', 'coex-whatsapp' ), array( __CLASS__, 'field_site_key' ), self::PAGE, 'coex_server' );
		add_settings_field( 'extension_key', __( 'Extension key', 'coex-whatsapp' ), array( __CLASS__, 'field_extension_key' ), self::PAGE, 'coex_server' );
		add_settings_field( 'allow_private_server', __( 'CoEx server on a private network', 'coex-whatsapp' ), array( __CLASS__, 'field_allow_private_server' ), self::PAGE, 'coex_server' );
	}

	/**
	 * Server URL field.
	 */
	public static function field_server_url() {
		// After a refused save, show what was typed (the error above says why) rather than the old value.
		$key      = self::REJECTED_URL_KEY . get_current_user_id();
		$rejected = get_transient( $key );
		if ( is_string( $rejected ) ) {
			delete_transient( $key );
		}
		printf(
			'<input type="text" inputmode="url" class="regular-text code" name="%1$s[server_url]" value="%2$s" placeholder="https://coex.example.com" />',
			esc_attr( self::OPTION ),
			esc_attr( is_string( $rejected ) ? $rejected : self::get()['server_url'] )
		);
	}

	/**
	 * "CoEx server on a private network" checkbox.
	 */
	public static function field_allow_private_server() {
		printf(
			'<label><input type="checkbox" name="%1$s[allow_private_server]" value="yes" %2$s /> %3$s</label>',
			esc_attr( self::OPTION ),
			'yes' === self::get()['allow_private_server'] ? 'checked="checked"' : '',
			esc_html__( 'Allow a server URL on this machine or a private network (localhost, 127.0.0.1, 10.x, 192.168.x…), e.g. CoEx self-hosted next to the shop.', 'coex-whatsapp' )
		);
	}

	/**
	 * Site key field (write-only).
	 */
	public static function field_site_key() {
		$set = '' !== self::get()['site_key_hash'];
		printf(
			'<input type="password" class="regular-text code" autocomplete="new-password" name="%1$s[site_key]" value="" placeholder="%2$s" />',
			esc_attr( self::OPTION ),
			esc_attr( $set ? __( 'Stored — leave empty to keep', 'coex-whatsapp' ) : __( 'Paste the site key issued by CoEx', 'coex-whatsapp' ) )
		);
		echo '<p class="description">' . esc_html__( 'CoEx sends it in X-Coex-Site-Key when it looks up customers by phone. Only its SHA-256 hash is stored.', 'coex-whatsapp' ) . '</p>';
	}

	/**
	 * Extension key field (write-only).
	 */
	public static function field_extension_key() {
		$set = '' !== self::get()['extension_key'];
		printf(
			'<input type="password" class="regular-text code" autocomplete="new-password" name="%1$s[extension_key]" value="" placeholder="%2$s" />',
			esc_attr( self::OPTION ),
			esc_attr( $set ? __( 'Stored — leave empty to keep', 'coex-whatsapp' ) : __( 'Paste the extension key issued by CoEx', 'coex-whatsapp' ) )
		);
		echo '<p class="description">' . esc_html__( 'Signs this store\'s requests to CoEx (HMAC-SHA256). It never leaves the server.', 'coex-whatsapp' ) . '</p>';
	}

	/**
	 * The settings page.
	 */
	public static function render_page() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			return;
		}
		$result = get_transient( self::NOTICE_KEY . get_current_user_id() );
		if ( is_array( $result ) && isset( $result['ok'], $result['message'] ) ) {
			delete_transient( self::NOTICE_KEY . get_current_user_id() );
			printf(
				'<div class="notice notice-%1$s is-dismissible"><p>%2$s</p></div>',
				$result['ok'] ? 'success' : 'error',
				esc_html( $result['message'] )
			);
		}
		echo '<div class="wrap"><h1>' . esc_html( get_admin_page_title() ) . '</h1>';
		settings_errors( self::OPTION );
		// options.php reports success as a 'general' message, which WordPress shows by itself only
		// under Settings → …; a page under WooCommerce has to print it (found on a real WordPress 7.1).
		settings_errors( 'general' );
		echo '<form action="options.php" method="post">';
		settings_fields( self::GROUP );
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form>';
		echo '<form action="' . esc_url( admin_url( 'admin-post.php' ) ) . '" method="post">';
		echo '<input type="hidden" name="action" value="' . esc_attr( self::TEST_ACTION ) . '" />';
		wp_nonce_field( self::TEST_ACTION );
		submit_button( __( 'Test connection', 'coex-whatsapp' ), 'secondary', 'coex-test-connection', false );
		echo '</form></div>';
	}

	/**
	 * Calls CoEx once with the stored credentials and reports what happened.
	 *
	 * @return array{ok: bool, message: string}
	 */
	public static function test_connection() {
		$client = Coex_Extension_Client::from_settings();
		if ( is_wp_error( $client ) ) {
			return array(
				'ok'      => false,
				'message' => $client->get_error_message(),
			);
		}
		$result = $client->get_thread( self::PROBE_PHONE );
		if ( is_wp_error( $result ) ) {
			return array(
				'ok'      => false,
				'message' => $result->get_error_message(),
			);
		}
		return array(
			'ok'      => true,
			'message' => __( 'Connected: CoEx accepted this store\'s signed request.', 'coex-whatsapp' ),
		);
	}

	/**
	 * Handles admin-post for the "Test connection" button.
	 */
	public static function handle_test_connection() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'You are not allowed to do this.', 'coex-whatsapp' ), 403 );
		}
		check_admin_referer( self::TEST_ACTION );
		set_transient( self::NOTICE_KEY . get_current_user_id(), self::test_connection(), 60 );
		wp_safe_redirect( admin_url( 'admin.php?page=' . self::PAGE ) );
		exit;
	}
}
