<?php
/**
 * PHPUnit bootstrap: just enough of WordPress and WooCommerce, stubbed, to load the plugin and call
 * its hooks and route handlers without a WordPress install.
 *
 * Modelled: hooks (add_action/do_action/filters), options and transients in memory, capabilities
 * and wp_rest nonces as sets the tests fill, WP_Error / WP_REST_Request (headers canonicalized like
 * WordPress: lowercase, "-" → "_") / WP_REST_Response, escaping functions (htmlspecialchars), the HTTP
 * API (wp_remote_request answers from a queue and records what was sent), register_rest_route,
 * add_meta_box, WC_Order (CRUD getters + meta), wc_get_orders (meta_query, billing_phone, limit,
 * newest first), wc_get_order_notes, WC_Customer, OrderUtil (HPOS switch) and FeaturesUtil.
 *
 * NOT modelled: the REST server itself (schema validation of args, permission_callback dispatch),
 * real nonces/cookies, translations (__ returns the msgid), the database, Action Scheduler, the
 * admin screens' HTML around the plugin's output.
 *
 * @package CoexWhatsApp
 */

define( 'ABSPATH', __DIR__ . '/' );

/** Mutable world the tests arrange and inspect. */
final class Coex_Test_WP {
	/** @var array<string,mixed> */
	public static $options = array();
	/** @var array<string,mixed> */
	public static $transients = array();
	/** @var array<string,bool> */
	public static $caps = array();
	/** @var array<string,string> nonce => action */
	public static $nonces = array();
	/** @var array<int,WC_Order> */
	public static $orders = array();
	/** @var array<int,array<int,object>> order id => notes */
	public static $notes = array();
	/** @var array<int,array<string,string>> user id => fields */
	public static $users = array();
	/** @var array<int,array<string,mixed>|WP_Error> */
	public static $http_queue = array();
	/** @var array<int,array{url: string, args: array<string,mixed>}> */
	public static $http_log = array();
	/** @var array<int,array<string,mixed>> */
	public static $order_queries = array();
	/** @var array<string,array<int,callable>> */
	public static $actions = array();
	/** @var array<string,array<int,callable>> */
	public static $filters = array();
	/** @var array<string,array<string,mixed>> */
	public static $routes = array();
	/** @var array<int,array<string,mixed>> */
	public static $meta_boxes = array();
	/** @var array<string,array<int,mixed>> */
	public static $enqueued = array();
	/** @var array<int,array<string,string>> */
	public static $settings_errors = array();
	/** @var object|null */
	public static $screen = null;
	/** @var string */
	public static $home = 'https://shop.example.ma';
	/** @var string get_user_locale() */
	public static $locale = 'en_US';

	public static function reset() {
		self::$options         = array();
		self::$transients      = array();
		self::$caps            = array();
		self::$nonces          = array();
		self::$orders          = array();
		self::$notes           = array();
		self::$users           = array();
		self::$http_queue      = array();
		self::$http_log        = array();
		self::$order_queries   = array();
		self::$routes          = array();
		self::$meta_boxes      = array();
		self::$enqueued        = array();
		self::$settings_errors = array();
		self::$screen          = null;
		self::$locale          = 'en_US';
		\Automattic\WooCommerce\Utilities\OrderUtil::$hpos = true;
	}
}

// ── WordPress core classes ───────────────────────────────────────────────────────────────────

class WP_Error {
	/** @var array<string,array<int,string>> */
	public $errors = array();
	/** @var array<string,mixed> */
	public $error_data = array();
	public function __construct( $code = '', $message = '', $data = '' ) {
		if ( '' !== $code ) {
			$this->errors[ $code ] = array( $message );
			if ( '' !== $data ) {
				$this->error_data[ $code ] = $data;
			}
		}
	}
	public function get_error_code() {
		$codes = array_keys( $this->errors );
		return $codes ? $codes[0] : '';
	}
	public function get_error_message( $code = '' ) {
		$code = '' !== $code ? $code : $this->get_error_code();
		return isset( $this->errors[ $code ][0] ) ? $this->errors[ $code ][0] : '';
	}
	public function get_error_data( $code = '' ) {
		$code = '' !== $code ? $code : $this->get_error_code();
		return isset( $this->error_data[ $code ] ) ? $this->error_data[ $code ] : null;
	}
	public function add_data( $data, $code = '' ) {
		$code                      = '' !== $code ? $code : $this->get_error_code();
		$this->error_data[ $code ] = $data;
	}
}

class WP_REST_Request {
	/** @var array<string,string> */
	private $headers = array();
	/** @var array<string,mixed> */
	private $params = array();
	/** @var string */
	private $method;
	public function __construct( $method = 'GET', $route = '' ) {
		$this->method = $method;
	}
	/** Same canonical form as WP_REST_Request::canonicalize_header_name(). */
	public static function canonicalize_header_name( $key ) {
		return str_replace( '-', '_', strtolower( $key ) );
	}
	public function set_header( $key, $value ) {
		$this->headers[ self::canonicalize_header_name( $key ) ] = $value;
	}
	public function get_header( $key ) {
		$key = self::canonicalize_header_name( $key );
		return isset( $this->headers[ $key ] ) ? $this->headers[ $key ] : null;
	}
	public function set_param( $key, $value ) {
		$this->params[ $key ] = $value;
	}
	public function get_param( $key ) {
		return isset( $this->params[ $key ] ) ? $this->params[ $key ] : null;
	}
	public function get_method() {
		return $this->method;
	}
}

class WP_REST_Response {
	/** @var mixed */
	public $data;
	/** @var int */
	public $status;
	public function __construct( $data = null, $status = 200 ) {
		$this->data   = $data;
		$this->status = $status;
	}
	public function get_data() {
		return $this->data;
	}
	public function get_status() {
		return $this->status;
	}
}

class WP_Post {
	/** @var int */
	public $ID;
	/** @var string */
	public $post_type = 'shop_order';
	public function __construct( $id ) {
		$this->ID = $id;
	}
}

// ── WooCommerce classes ─────────────────────────────────────────────────────────────────────

class WC_DateTime extends DateTime {
}

class WC_Order {
	/** @var array<string,mixed> */
	private $props;
	/** @var array<string,mixed> */
	private $meta = array();
	/** @var int */
	public $meta_saves = 0;
	public function __construct( array $props ) {
		$this->props = array_merge(
			array(
				'id'            => 0,
				'status'        => 'processing',
				'customer_id'   => 0,
				'billing_phone' => '',
				'created'       => '2026-02-20T10:00:00Z',
				'paid'          => null,
				'total'         => '0',
				'currency'      => 'MAD',
			),
			$props
		);
	}
	public function get_id() {
		return $this->props['id'];
	}
	public function get_order_number() {
		return (string) $this->props['id'];
	}
	public function get_status() {
		return $this->props['status'];
	}
	public function get_customer_id() {
		return $this->props['customer_id'];
	}
	public function get_billing_phone() {
		return $this->props['billing_phone'];
	}
	public function get_total() {
		return $this->props['total'];
	}
	public function get_currency() {
		return $this->props['currency'];
	}
	public function get_date_created() {
		return null === $this->props['created'] ? null : new WC_DateTime( $this->props['created'] );
	}
	public function get_date_paid() {
		return null === $this->props['paid'] ? null : new WC_DateTime( $this->props['paid'] );
	}
	public function get_meta( $key ) {
		return isset( $this->meta[ $key ] ) ? $this->meta[ $key ] : '';
	}
	public function update_meta_data( $key, $value ) {
		$this->meta[ $key ] = $value;
	}
	public function delete_meta_data( $key ) {
		unset( $this->meta[ $key ] );
	}
	public function save_meta_data() {
		$this->meta_saves++;
	}
}

class WC_Customer {
	/** @var int */
	private $id = 0;
	/** @var array<string,string> */
	private $fields = array();
	public function __construct( $id ) {
		if ( ! isset( Coex_Test_WP::$users[ $id ] ) ) {
			throw new Exception( 'Invalid customer.' );
		}
		$this->id     = $id;
		$this->fields = Coex_Test_WP::$users[ $id ];
	}
	public function get_id() {
		return $this->id;
	}
	public function get_first_name() {
		return $this->fields['first_name'];
	}
	public function get_last_name() {
		return $this->fields['last_name'];
	}
	public function get_email() {
		return $this->fields['email'];
	}
}

// ── hooks ──────────────────────────────────────────────────────────────────────────────────

function add_action( $hook, $callback, $priority = 10, $args = 1 ) {
	Coex_Test_WP::$actions[ $hook ][] = $callback;
	return true;
}
function add_filter( $hook, $callback, $priority = 10, $args = 1 ) {
	Coex_Test_WP::$filters[ $hook ][] = $callback;
	return true;
}
function do_action( $hook, ...$args ) {
	foreach ( isset( Coex_Test_WP::$actions[ $hook ] ) ? Coex_Test_WP::$actions[ $hook ] : array() as $cb ) {
		call_user_func_array( $cb, $args );
	}
}
function apply_filters( $hook, $value, ...$args ) {
	foreach ( isset( Coex_Test_WP::$filters[ $hook ] ) ? Coex_Test_WP::$filters[ $hook ] : array() as $cb ) {
		$value = call_user_func_array( $cb, array_merge( array( $value ), $args ) );
	}
	return $value;
}
function register_activation_hook( $file, $cb ) {
}
function register_deactivation_hook( $file, $cb ) {
}
function plugin_basename( $file ) {
	return basename( dirname( $file ) ) . '/' . basename( $file );
}
function plugin_dir_url( $file ) {
	return 'https://shop.example.ma/wp-content/plugins/' . basename( dirname( $file ) ) . '/';
}
function load_plugin_textdomain( $domain, $deprecated = false, $path = '' ) {
	return true;
}

// ── i18n and escaping ──────────────────────────────────────────────────────────────────────

/** The admin's language setting (WordPress: the user's, else the site's); tests set Coex_Test_WP::$locale. */
function get_user_locale( $user = 0 ) {
	return Coex_Test_WP::$locale;
}
function translate( $text, $domain = 'default' ) {
	return $text;
}
function __( $text, $domain = 'default' ) {
	return $text;
}
function _x( $text, $context, $domain = 'default' ) {
	return $text;
}
function esc_html__( $text, $domain = 'default' ) {
	return esc_html( $text );
}
function esc_html( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8' );
}
function esc_attr( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8' );
}
function esc_url( $url ) {
	return htmlspecialchars( (string) $url, ENT_QUOTES, 'UTF-8' );
}
function esc_url_raw( $url, $protocols = null ) {
	return (string) $url;
}
function sanitize_text_field( $s ) {
	return trim( preg_replace( '/[\r\n\t ]+/', ' ', wp_strip_all_tags( (string) $s ) ) );
}
function sanitize_key( $key ) {
	return preg_replace( '/[^a-z0-9_\-]/', '', strtolower( (string) $key ) );
}
function wp_strip_all_tags( $s ) {
	return trim( strip_tags( (string) $s ) );
}
function wp_unslash( $v ) {
	return $v;
}
function absint( $v ) {
	return abs( (int) $v );
}
function untrailingslashit( $s ) {
	return rtrim( (string) $s, '/\\' );
}
function wp_json_encode( $data, $flags = 0 ) {
	return json_encode( $data, $flags );
}
function wp_parse_url( $url, $component = -1 ) {
	return parse_url( $url, $component );
}
function wp_http_validate_url( $url ) {
	return false !== filter_var( $url, FILTER_VALIDATE_URL ) ? $url : false;
}
function is_wp_error( $thing ) {
	return $thing instanceof WP_Error;
}

// ── options, users, capabilities, nonces ──────────────────────────────────────────────────

function get_option( $name, $default = false ) {
	return array_key_exists( $name, Coex_Test_WP::$options ) ? Coex_Test_WP::$options[ $name ] : $default;
}
function update_option( $name, $value, $autoload = null ) {
	Coex_Test_WP::$options[ $name ] = $value;
	return true;
}
function delete_option( $name ) {
	unset( Coex_Test_WP::$options[ $name ] );
	return true;
}
function get_transient( $name ) {
	return isset( Coex_Test_WP::$transients[ $name ] ) ? Coex_Test_WP::$transients[ $name ] : false;
}
function set_transient( $name, $value, $ttl = 0 ) {
	Coex_Test_WP::$transients[ $name ] = $value;
	return true;
}
function delete_transient( $name ) {
	unset( Coex_Test_WP::$transients[ $name ] );
	return true;
}
function add_settings_error( $setting, $code, $message, $type = 'error' ) {
	Coex_Test_WP::$settings_errors[] = array(
		'setting' => $setting,
		'code'    => $code,
		'message' => $message,
	);
}
function home_url( $path = '' ) {
	return Coex_Test_WP::$home . $path;
}
function rest_url( $path = '' ) {
	return Coex_Test_WP::$home . '/wp-json/' . ltrim( $path, '/' );
}
function admin_url( $path = '' ) {
	return Coex_Test_WP::$home . '/wp-admin/' . $path;
}
function current_user_can( $cap ) {
	return ! empty( Coex_Test_WP::$caps[ $cap ] );
}
function is_user_logged_in() {
	return ! empty( Coex_Test_WP::$caps );
}
function wp_get_current_user() {
	$user             = new stdClass();
	$user->ID         = get_current_user_id();
	$user->user_email = $user->ID ? 'manager@shop.example.ma' : '';
	$user->user_login = $user->ID ? 'manager' : '';
	return $user;
}
function get_current_user_id() {
	return is_user_logged_in() ? 1 : 0;
}
function rest_authorization_required_code() {
	return is_user_logged_in() ? 403 : 401;
}
function wp_create_nonce( $action = -1 ) {
	$nonce                            = substr( md5( 'nonce-' . $action ), 0, 10 );
	Coex_Test_WP::$nonces[ $nonce ] = $action;
	return $nonce;
}
function wp_verify_nonce( $nonce, $action = -1 ) {
	return isset( Coex_Test_WP::$nonces[ $nonce ] ) && Coex_Test_WP::$nonces[ $nonce ] === $action ? 1 : false;
}
function get_users( $args ) {
	$values = (array) $args['meta_value'];
	$ids    = array();
	foreach ( Coex_Test_WP::$users as $id => $fields ) {
		if ( isset( $fields['billing_phone'] ) && in_array( $fields['billing_phone'], $values, true ) ) {
			$ids[] = $id;
		}
	}
	return $ids;
}
function get_user_meta( $id, $key, $single = false ) {
	return isset( Coex_Test_WP::$users[ $id ][ $key ] ) ? Coex_Test_WP::$users[ $id ][ $key ] : '';
}

// ── REST, admin UI ─────────────────────────────────────────────────────────────────────────

function register_rest_route( $namespace, $route, $args ) {
	Coex_Test_WP::$routes[ $namespace . $route ] = $args;
	return true;
}
function add_meta_box( $id, $title, $callback, $screen, $context = 'advanced', $priority = 'default' ) {
	Coex_Test_WP::$meta_boxes[] = compact( 'id', 'title', 'callback', 'screen', 'context', 'priority' );
}
function get_current_screen() {
	return Coex_Test_WP::$screen;
}
function wp_enqueue_style( $handle, ...$args ) {
	Coex_Test_WP::$enqueued['style'][] = array_merge( array( $handle ), $args );
}
function wp_enqueue_script_module( $id, ...$args ) {
	Coex_Test_WP::$enqueued['module'][] = array_merge( array( $id ), $args );
}

// ── HTTP API ───────────────────────────────────────────────────────────────────────────────

function wp_remote_request( $url, $args = array() ) {
	Coex_Test_WP::$http_log[] = array(
		'url'  => $url,
		'args' => $args,
	);
	if ( getenv( 'COEX_LIVE_HTTP' ) ) {
		return coex_test_live_http( $url, $args );
	}
	if ( ! Coex_Test_WP::$http_queue ) {
		return new WP_Error( 'http_request_failed', 'cURL error 7: Failed to connect' );
	}
	return array_shift( Coex_Test_WP::$http_queue );
}
/**
 * Real HTTP for the end-to-end test against a running CoEx server (COEX_LIVE_HTTP=1): the same
 * result shape as WordPress's HTTP API, through PHP streams (no WordPress here).
 */
function coex_test_live_http( $url, $args ) {
	$headers = array();
	foreach ( (array) ( $args['headers'] ?? array() ) as $name => $value ) {
		$headers[] = $name . ': ' . $value;
	}
	$context = stream_context_create(
		array(
			'http' => array(
				'method'          => $args['method'] ?? 'GET',
				'header'          => implode( "\r\n", $headers ),
				'content'         => (string) ( $args['body'] ?? '' ),
				'timeout'         => (float) ( $args['timeout'] ?? 10 ),
				'ignore_errors'   => true,
				'follow_location' => 0,
			),
		)
	);
	$body = @file_get_contents( $url, false, $context );
	if ( false === $body ) {
		return new WP_Error( 'http_request_failed', 'connection failed' );
	}
	$code = 0;
	foreach ( $http_response_header ?? array() as $line ) {
		if ( preg_match( '#^HTTP/\S+\s+(\d{3})#', $line, $m ) ) {
			$code = (int) $m[1];
		}
	}
	return array(
		'response' => array( 'code' => $code ),
		'body'     => $body,
	);
}

function wp_remote_retrieve_response_code( $response ) {
	return is_array( $response ) && isset( $response['response']['code'] ) ? $response['response']['code'] : '';
}
function wp_remote_retrieve_body( $response ) {
	return is_array( $response ) && isset( $response['body'] ) ? $response['body'] : '';
}

// ── WooCommerce functions ──────────────────────────────────────────────────────────────────

function wc_get_order( $id ) {
	return isset( Coex_Test_WP::$orders[ (int) $id ] ) ? Coex_Test_WP::$orders[ (int) $id ] : false;
}
function wc_get_orders( $query ) {
	Coex_Test_WP::$order_queries[] = $query;
	$hits                          = array();
	foreach ( Coex_Test_WP::$orders as $order ) {
		if ( isset( $query['billing_phone'] ) && $order->get_billing_phone() !== $query['billing_phone'] ) {
			continue;
		}
		if ( isset( $query['meta_query'] ) ) {
			foreach ( $query['meta_query'] as $clause ) {
				if ( $order->get_meta( $clause['key'] ) !== $clause['value'] ) {
					continue 2;
				}
			}
		}
		$hits[] = $order;
	}
	$asc = isset( $query['order'] ) && 'ASC' === $query['order'];
	usort(
		$hits,
		static function ( $a, $b ) use ( $asc ) {
			return $asc ? $a->get_id() <=> $b->get_id() : $b->get_date_created()->getTimestamp() <=> $a->get_date_created()->getTimestamp();
		}
	);
	$limit = isset( $query['limit'] ) ? (int) $query['limit'] : 10;
	$page  = isset( $query['paged'] ) ? (int) $query['paged'] : 1;
	$hits  = array_slice( $hits, ( $page - 1 ) * $limit, $limit );
	if ( isset( $query['return'] ) && 'ids' === $query['return'] ) {
		return array_map(
			static function ( $o ) {
				return $o->get_id();
			},
			$hits
		);
	}
	return $hits;
}
function wc_get_order_notes( $args ) {
	return isset( Coex_Test_WP::$notes[ $args['order_id'] ] ) ? Coex_Test_WP::$notes[ $args['order_id'] ] : array();
}
function wc_format_decimal( $number, $dp = false ) {
	return false === $dp ? (string) $number : number_format( (float) $number, (int) $dp, '.', '' );
}
function wc_get_price_decimals() {
	return 2;
}
function wc_get_page_screen_id( $for ) {
	// WooCommerce: 'shop-order' → 'woocommerce_page_wc-orders' when HPOS serves the orders screen.
	return 'shop-order' === $for ? 'woocommerce_page_wc-orders' : 'woocommerce_page_wc-' . $for;
}

// ── namespaced WooCommerce utilities ─────────────────────────────────────────────────────────

require __DIR__ . '/stubs/woocommerce-utilities.php';
require __DIR__ . '/stubs/fixtures.php';

require dirname( __DIR__ ) . '/coex-whatsapp.php';
