<?php
/**
 * Server-side client of the CoEx extension API (the browser never sees the extension key):
 *   GET  /ext/v1/woocommerce/thread?phone=<E.164>
 *   POST /ext/v1/woocommerce/threads/{id}/bot       { action }
 *   POST /ext/v1/woocommerce/threads/{id}/messages  { text } | { template: { name, language, body_parameters? } }
 *   GET  /ext/v1/woocommerce/templates?phone_number_id=<digits>   approved templates (Meta is the source)
 *   GET  /ext/v1/woocommerce/campaigns?phone=<E.164>&limit=<n>    campaigns that included this customer
 * Every request is signed (Coex_Signer). Failures become WP_Error with an HTTP status the plugin's
 * REST routes pass on: 502 when CoEx is unreachable, rejects our credentials or answers nonsense;
 * 409 coex_window_closed when WhatsApp's 24-hour window is closed; 4xx from CoEx kept as they are.
 *
 * @package CoexWhatsApp
 */

defined( 'ABSPATH' ) || exit;

/**
 * Signed HTTP client.
 */
class Coex_Extension_Client {

	const BASE_PATH = '/ext/v1/woocommerce';
	const TIMEOUT   = 10;

	/** Bot actions CoEx accepts. */
	const BOT_ACTIONS = array( 'pause', 'resume', 'off' );

	/**
	 * CoEx base URL, no trailing slash.
	 *
	 * @var string
	 */
	private $server_url;

	/**
	 * Extension key (HMAC secret).
	 *
	 * @var string
	 */
	private $key;

	/**
	 * Account id sent in X-Coex-Account.
	 *
	 * @var string
	 */
	private $account;

	/**
	 * Constructor.
	 *
	 * @param string $server_url CoEx base URL.
	 * @param string $key        Extension key.
	 * @param string $account    Site URL.
	 */
	public function __construct( $server_url, $key, $account ) {
		$this->server_url = untrailingslashit( $server_url );
		$this->key        = $key;
		$this->account    = $account;
	}

	/**
	 * A client from the saved settings, or a 503 error when they are incomplete.
	 *
	 * @return Coex_Extension_Client|WP_Error
	 */
	public static function from_settings() {
		$s = Coex_Settings::get();
		if ( '' === $s['server_url'] || '' === $s['extension_key'] ) {
			return new WP_Error( 'coex_not_configured', __( 'CoEx is not configured: set the server URL and extension key in WooCommerce → CoEx WhatsApp.', 'coex-whatsapp' ), array( 'status' => 503 ) );
		}
		return new self( $s['server_url'], $s['extension_key'], Coex_Settings::account() );
	}

	/**
	 * The thread of a phone number, with its latest messages.
	 *
	 * @param string $phone E.164.
	 * @return array<string,mixed>|WP_Error
	 */
	public function get_thread( $phone ) {
		return $this->request( 'GET', '/thread?phone=' . rawurlencode( $phone ), null );
	}

	/**
	 * The approved templates of the WhatsApp Business Account behind a business number (every
	 * number of the tenant when $phone_number_id is empty).
	 *
	 * @param string $phone_number_id Meta phone number id (digits) or ''.
	 * @return array<string,mixed>|WP_Error
	 */
	public function get_templates( $phone_number_id = '' ) {
		$query = '' !== $phone_number_id ? '?phone_number_id=' . rawurlencode( $phone_number_id ) : '';
		return $this->request( 'GET', '/templates' . $query, null );
	}

	/**
	 * The campaigns that included a customer (newest first, with their own outcome) and the
	 * customer's marketing opt-out.
	 *
	 * @param string $phone E.164.
	 * @param int    $limit 1..50.
	 * @return array<string,mixed>|WP_Error
	 */
	public function get_campaigns( $phone, $limit = 5 ) {
		$limit = max( 1, min( 50, (int) $limit ) );
		return $this->request( 'GET', '/campaigns?phone=' . rawurlencode( $phone ) . '&limit=' . $limit, null );
	}

	/**
	 * Pause, resume or switch off the AI agent of a thread.
	 *
	 * @param string $thread_id Thread id.
	 * @param string $action    pause|resume|off.
	 * @param string $actor     The WordPress user acting (CoEx records it in the bot history).
	 * @return array<string,mixed>|WP_Error
	 */
	public function set_bot( $thread_id, $action, $actor = '' ) {
		if ( ! in_array( $action, self::BOT_ACTIONS, true ) ) {
			return new WP_Error( 'rest_invalid_param', __( 'Unknown bot action.', 'coex-whatsapp' ), array( 'status' => 400 ) );
		}
		$body = array( 'action' => $action );
		if ( '' !== $actor ) {
			$body['actor'] = $actor;
		}
		return $this->request( 'POST', '/threads/' . rawurlencode( $thread_id ) . '/bot', $body );
	}

	/**
	 * Send a reply: free text inside the window, a template outside it. The payload may carry
	 * `actor` (who typed it) and `client_ref` (idempotency key: a retry returns the first message).
	 *
	 * @param string              $thread_id Thread id.
	 * @param array<string,mixed> $payload   { text } or { template: { name, language, body_parameters? } }.
	 * @return array<string,mixed>|WP_Error
	 */
	public function send_message( $thread_id, $payload ) {
		return $this->request( 'POST', '/threads/' . rawurlencode( $thread_id ) . '/messages', $payload );
	}

	/**
	 * One signed request; JSON object in, JSON object out.
	 *
	 * @param string                   $method GET|POST.
	 * @param string                   $path   Path under BASE_PATH, with query.
	 * @param array<string,mixed>|null $body   JSON body.
	 * @return array<string,mixed>|WP_Error
	 */
	public function request( $method, $path, $body ) {
		$url = $this->server_url . self::BASE_PATH . $path;
		// Compact UTF-8, byte-identical to JSON.stringify: the signature covers these exact bytes.
		$raw     = null === $body ? '' : (string) wp_json_encode( $body, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES );
		$headers = Coex_Signer::headers( $this->account, $this->key, $method, $url, $raw );

		$headers['Accept'] = 'application/json';
		if ( null !== $body ) {
			$headers['Content-Type'] = 'application/json';
		}
		$response = wp_remote_request(
			$url,
			array(
				'method'      => $method,
				'headers'     => $headers,
				'body'        => null === $body ? null : $raw,
				'timeout'     => self::TIMEOUT,
				'redirection' => 0,
			)
		);
		return self::map_response( $response );
	}

	/**
	 * Turns a wp_remote_* result into decoded JSON or a WP_Error the REST routes can return.
	 *
	 * @param array<string,mixed>|WP_Error $response HTTP API result.
	 * @return array<string,mixed>|WP_Error
	 */
	public static function map_response( $response ) {
		if ( is_wp_error( $response ) ) {
			return new WP_Error(
				'coex_unreachable',
				/* translators: %s: transport error (DNS, timeout, TLS…) */
				sprintf( __( 'CoEx could not be reached: %s', 'coex-whatsapp' ), $response->get_error_message() ),
				array( 'status' => 502 )
			);
		}
		$status  = (int) wp_remote_retrieve_response_code( $response );
		$decoded = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		$json    = is_array( $decoded ) ? $decoded : null;
		$code    = is_array( $json ) && isset( $json['code'] ) && is_string( $json['code'] ) ? $json['code'] : '';
		// CoEx error bodies are { error, code }; WordPress-style { message } is accepted too.
		$message = '';
		foreach ( array( 'error', 'message' ) as $field ) {
			if ( '' === $message && is_array( $json ) && isset( $json[ $field ] ) && is_string( $json[ $field ] ) ) {
				$message = $json[ $field ];
			}
		}

		if ( $status >= 200 && $status < 300 ) {
			if ( null === $json ) {
				return new WP_Error( 'coex_bad_response', __( 'CoEx answered with something that is not JSON.', 'coex-whatsapp' ), array( 'status' => 502 ) );
			}
			return $json;
		}
		if ( 401 === $status || 403 === $status ) {
			// Our credentials, not the WordPress user's: a gateway problem for the browser.
			return new WP_Error( 'coex_auth_failed', __( 'CoEx rejected this store\'s credentials: check the extension key and server URL.', 'coex-whatsapp' ), array( 'status' => 502 ) );
		}
		if ( 409 === $status && 'window_closed' === $code ) {
			return new WP_Error( 'coex_window_closed', __( 'The 24-hour WhatsApp window is closed: send an approved template instead.', 'coex-whatsapp' ), array( 'status' => 409 ) );
		}
		if ( 429 === $status ) {
			return new WP_Error( 'coex_rate_limited', __( 'CoEx is rate limiting this store; try again shortly.', 'coex-whatsapp' ), array( 'status' => 429 ) );
		}
		if ( $status >= 400 && $status < 500 ) {
			return new WP_Error(
				'' !== $code ? 'coex_' . sanitize_key( $code ) : 'coex_client_error',
				'' !== $message ? $message : sprintf( /* translators: %d: HTTP status */ __( 'CoEx refused the request (HTTP %d).', 'coex-whatsapp' ), $status ),
				array( 'status' => $status )
			);
		}
		// 5xx: a gateway failure for the browser; CoEx's code (e.g. send_failed) is kept when it gives one.
		return new WP_Error(
			'' !== $code ? 'coex_' . sanitize_key( $code ) : 'coex_upstream_error',
			'' !== $message ? $message : sprintf( /* translators: %d: HTTP status */ __( 'CoEx failed (HTTP %d).', 'coex-whatsapp' ), $status ),
			array( 'status' => 502 )
		);
	}
}
