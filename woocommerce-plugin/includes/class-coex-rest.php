<?php
/**
 * REST routes (namespace coex/v1).
 *
 * For the CoEx server (authenticated by X-Coex-Site-Key, compared in constant time with the stored hash):
 *   GET  /lookup?phone=<E.164>          → { phone, customer|null, orders[] } (newest first)
 *
 * For the order screen (logged-in user: X-WP-Nonce for "wp_rest" and capability edit_shop_orders),
 * each proxied server-side to the CoEx extension API with the signed headers:
 *   GET  /orders/<id>/timeline          → order events + CoEx thread, messages, window, sync
 *   POST /orders/<id>/bot      { action: pause|resume|off }
 *   POST /orders/<id>/messages { text } | { template: { name, language, body_parameters? } }
 *   GET  /orders/<id>/campaigns          → campaigns that included the order's customer + opt-out
 *   GET  /templates?phone_number_id=<digits>  → approved templates (the server reads them from Meta)
 * The thread and the customer are always re-resolved from the order's billing phone, so a user can
 * only see or act on the conversation and campaign history of an order they may edit. The template
 * list is the tenant's, not a customer's, so its route takes the thread's business number as given
 * (CoEx answers 404 for a number that is not the store's).
 *
 * @package CoexWhatsApp
 */

defined( 'ABSPATH' ) || exit;

/**
 * Route registration and handlers.
 */
final class Coex_Rest {

	const NAMESPACE_V1    = 'coex/v1';
	const SITE_KEY_HEADER = 'X-Coex-Site-Key';
	const ORDER_CAP       = 'edit_shop_orders';
	const MAX_ORDERS      = 20;
	const MAX_TEXT        = 4096;
	const MAX_CAMPAIGNS   = 5;
	/** WhatsApp caps a template body at 1024 characters, so no single value can be longer. */
	const MAX_PARAMETER  = 1024;
	const MAX_PARAMETERS = 100;

	/**
	 * Hooks.
	 */
	public static function init() {
		add_action( 'rest_api_init', array( __CLASS__, 'register_routes' ) );
	}

	/**
	 * Registers the routes.
	 */
	public static function register_routes() {
		register_rest_route(
			self::NAMESPACE_V1,
			'/lookup',
			array(
				'methods'             => 'GET',
				'callback'            => array( __CLASS__, 'lookup' ),
				'permission_callback' => array( __CLASS__, 'check_site_key' ),
				'args'                => array(
					'phone' => array(
						'type'     => 'string',
						'required' => true,
					),
				),
			)
		);
		$order_id = array(
			'id' => array(
				'type'              => 'integer',
				'minimum'           => 1,
				'sanitize_callback' => 'absint',
			),
		);
		register_rest_route(
			self::NAMESPACE_V1,
			'/orders/(?P<id>\d+)/timeline',
			array(
				'methods'             => 'GET',
				'callback'            => array( __CLASS__, 'timeline' ),
				'permission_callback' => array( __CLASS__, 'check_order_user' ),
				'args'                => $order_id,
			)
		);
		register_rest_route(
			self::NAMESPACE_V1,
			'/orders/(?P<id>\d+)/bot',
			array(
				'methods'             => 'POST',
				'callback'            => array( __CLASS__, 'bot' ),
				'permission_callback' => array( __CLASS__, 'check_order_user' ),
				'args'                => $order_id + array(
					'action' => array(
						'type'     => 'string',
						'enum'     => Coex_Extension_Client::BOT_ACTIONS,
						'required' => true,
					),
				),
			)
		);
		register_rest_route(
			self::NAMESPACE_V1,
			'/orders/(?P<id>\d+)/messages',
			array(
				'methods'             => 'POST',
				'callback'            => array( __CLASS__, 'send_message' ),
				'permission_callback' => array( __CLASS__, 'check_order_user' ),
				'args'                => $order_id + array(
					'text'       => array(
						'type'      => 'string',
						'maxLength' => self::MAX_TEXT,
					),
					'client_ref' => array(
						'type'    => 'string',
						'pattern' => '^[A-Za-z0-9_-]{8,64}$',
					),
					'template'   => array(
						'type'       => 'object',
						// body_parameters is a list (positional) or an object (named): checked in message_payload().
						'properties' => array(
							'name'     => array( 'type' => 'string' ),
							'language' => array( 'type' => 'string' ),
						),
					),
				),
			)
		);
		register_rest_route(
			self::NAMESPACE_V1,
			'/orders/(?P<id>\d+)/campaigns',
			array(
				'methods'             => 'GET',
				'callback'            => array( __CLASS__, 'campaigns' ),
				'permission_callback' => array( __CLASS__, 'check_order_user' ),
				'args'                => $order_id,
			)
		);
		register_rest_route(
			self::NAMESPACE_V1,
			'/templates',
			array(
				'methods'             => 'GET',
				'callback'            => array( __CLASS__, 'templates' ),
				'permission_callback' => array( __CLASS__, 'check_order_user' ),
				'args'                => array(
					'phone_number_id' => array(
						'type'    => 'string',
						'pattern' => '^[0-9]{1,32}$',
					),
				),
			)
		);
	}

	// ── permissions ──────────────────────────────────────────────────────────────────────────

	/**
	 * CoEx server calls: X-Coex-Site-Key must match the stored hash.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return true|WP_Error
	 */
	public static function check_site_key( $request ) {
		if ( '' === Coex_Settings::get()['site_key_hash'] ) {
			return new WP_Error( 'coex_site_key_not_set', __( 'No CoEx site key is configured on this store.', 'coex-whatsapp' ), array( 'status' => 401 ) );
		}
		if ( ! Coex_Settings::site_key_matches( $request->get_header( self::SITE_KEY_HEADER ) ) ) {
			return new WP_Error( 'coex_invalid_site_key', __( 'Missing or invalid X-Coex-Site-Key.', 'coex-whatsapp' ), array( 'status' => 401 ) );
		}
		return true;
	}

	/**
	 * Order screen calls: a valid wp_rest nonce and the right to edit orders.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return true|WP_Error
	 */
	public static function check_order_user( $request ) {
		$nonce = $request->get_header( 'X-WP-Nonce' );
		if ( ! is_string( $nonce ) || '' === $nonce || ! wp_verify_nonce( $nonce, 'wp_rest' ) ) {
			return new WP_Error( 'rest_cookie_invalid_nonce', __( 'Cookie check failed: reload the page.', 'coex-whatsapp' ), array( 'status' => 403 ) );
		}
		if ( ! current_user_can( self::ORDER_CAP ) ) {
			return new WP_Error( 'rest_forbidden', __( 'Sorry, you are not allowed to view this order\'s conversation.', 'coex-whatsapp' ), array( 'status' => rest_authorization_required_code() ) );
		}
		return true;
	}

	// ── lookup (CoEx → store) ───────────────────────────────────────────────────────────────

	/**
	 * GET /lookup?phone=.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return WP_REST_Response|WP_Error
	 */
	public static function lookup( $request ) {
		$phone = Coex_Phone::normalize( $request->get_param( 'phone' ), Coex_Phone_Index::country_code() );
		if ( null === $phone ) {
			return new WP_Error(
				'rest_invalid_param',
				__( 'Invalid parameter(s): phone', 'coex-whatsapp' ),
				array(
					'status' => 400,
					'params' => array( 'phone' => __( 'phone must be a phone number, ideally E.164.', 'coex-whatsapp' ) ),
				)
			);
		}
		$orders      = self::orders_for_phone( $phone );
		$customer_id = self::customer_for_phone( $phone );
		if ( 0 === $customer_id ) {
			foreach ( $orders as $order ) {
				if ( $order->get_customer_id() > 0 ) {
					$customer_id = (int) $order->get_customer_id();
					break;
				}
			}
		}
		return new WP_REST_Response(
			array(
				'phone'    => $phone,
				'customer' => self::customer_view( $customer_id ),
				'orders'   => array_map( array( __CLASS__, 'order_view' ), $orders ),
			),
			200
		);
	}

	/**
	 * Orders whose normalized billing phone equals $phone, newest first.
	 *
	 * @param string $phone E.164.
	 * @return WC_Order[]
	 */
	public static function orders_for_phone( $phone ) {
		$base = array(
			'type'    => 'shop_order',
			'limit'   => self::MAX_ORDERS,
			'orderby' => 'date',
			'order'   => 'DESC',
		);
		// The plugin's normalized index first, then exact spellings for orders not indexed yet.
		$queries = array(
			$base + array(
				'meta_query' => array( // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_query
					array(
						'key'   => Coex_Phone_Index::META_KEY,
						'value' => $phone,
					),
				),
			),
		);
		foreach ( Coex_Phone::variants( $phone ) as $variant ) {
			$queries[] = $base + array( 'billing_phone' => $variant );
		}
		$by_id = array();
		foreach ( $queries as $query ) {
			foreach ( wc_get_orders( $query ) as $order ) {
				if ( $order instanceof WC_Order && ! isset( $by_id[ $order->get_id() ] )
					&& Coex_Phone::normalize( $order->get_billing_phone(), Coex_Phone_Index::country_code() ) === $phone ) {
					$by_id[ $order->get_id() ] = $order;
				}
			}
		}
		$orders = array_values( $by_id );
		usort(
			$orders,
			static function ( $a, $b ) {
				$ta      = $a->get_date_created() ? $a->get_date_created()->getTimestamp() : 0;
				$tb      = $b->get_date_created() ? $b->get_date_created()->getTimestamp() : 0;
				$by_date = $tb <=> $ta;
				return 0 !== $by_date ? $by_date : $b->get_id() <=> $a->get_id();
			}
		);
		return array_slice( $orders, 0, self::MAX_ORDERS );
	}

	/**
	 * Registered customer whose billing phone (user meta, as WooCommerce keeps it) is $phone; 0 if none.
	 *
	 * @param string $phone E.164.
	 * @return int
	 */
	public static function customer_for_phone( $phone ) {
		$ids = get_users(
			array(
				'fields'       => 'ID',
				'number'       => 10,
				'meta_key'     => 'billing_phone', // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_key
				'meta_value'   => Coex_Phone::variants( $phone ), // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_value
				'meta_compare' => 'IN',
			)
		);
		foreach ( $ids as $id ) {
			if ( Coex_Phone::normalize( get_user_meta( (int) $id, 'billing_phone', true ), Coex_Phone_Index::country_code() ) === $phone ) {
				return (int) $id;
			}
		}
		return 0;
	}

	/**
	 * The lookup's customer object, or null.
	 *
	 * @param int $customer_id User id.
	 * @return array<string,mixed>|null
	 */
	public static function customer_view( $customer_id ) {
		if ( $customer_id <= 0 ) {
			return null;
		}
		try {
			$customer = new WC_Customer( $customer_id );
		} catch ( Exception $e ) {
			return null; // Deleted user still referenced by an old order.
		}
		if ( ! $customer->get_id() ) {
			return null;
		}
		return array(
			'id'         => (int) $customer->get_id(),
			'first_name' => (string) $customer->get_first_name(),
			'last_name'  => (string) $customer->get_last_name(),
			'email'      => (string) $customer->get_email(),
		);
	}

	/**
	 * The lookup's order object (the subset of wc/v3 orders CoEx reads).
	 *
	 * @param WC_Order $order Order.
	 * @return array<string,mixed>
	 */
	public static function order_view( $order ) {
		$created = $order->get_date_created();
		return array(
			'id'               => (int) $order->get_id(),
			'number'           => (string) $order->get_order_number(),
			'status'           => (string) $order->get_status(),
			'customer_id'      => (int) $order->get_customer_id(),
			'date_created_gmt' => $created ? gmdate( 'Y-m-d\TH:i:s', $created->getTimestamp() ) : null,
			'total'            => (string) wc_format_decimal( $order->get_total(), wc_get_price_decimals() ),
			'currency'         => (string) $order->get_currency(),
		);
	}

	// ── order screen (browser → store → CoEx) ───────────────────────────────────────────────

	/**
	 * GET /orders/<id>/timeline.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return WP_REST_Response|WP_Error
	 */
	public static function timeline( $request ) {
		$order = self::order_from_request( $request );
		if ( is_wp_error( $order ) ) {
			return $order;
		}
		$phone = Coex_Phone::normalize( $order->get_billing_phone(), Coex_Phone_Index::country_code() );
		$body  = array(
			'order'    => array(
				'id'     => (int) $order->get_id(),
				'number' => (string) $order->get_order_number(),
				'status' => (string) $order->get_status(),
				'phone'  => $phone,
			),
			'events'   => Coex_Order_Timeline::events( $order ),
			'thread'   => null,
			'messages' => array(),
			'sync'     => null,
		);
		if ( null === $phone ) {
			return new WP_REST_Response( $body, 200 );
		}
		$thread = self::fetch_thread( $phone );
		if ( is_wp_error( $thread ) ) {
			// Keep the order's own history visible next to the error.
			$data = $thread->get_error_data();
			$thread->add_data(
				array_merge(
					is_array( $data ) ? $data : array(),
					array(
						'order'  => $body['order'],
						'events' => $body['events'],
					)
				)
			);
			return $thread;
		}
		$body['thread']   = $thread['thread'];
		$body['messages'] = $thread['messages'];
		$body['sync']     = $thread['sync'];
		return new WP_REST_Response( $body, 200 );
	}

	/**
	 * POST /orders/<id>/bot.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return WP_REST_Response|WP_Error
	 */
	public static function bot( $request ) {
		$action = $request->get_param( 'action' );
		if ( ! is_string( $action ) || ! in_array( $action, Coex_Extension_Client::BOT_ACTIONS, true ) ) {
			return new WP_Error( 'rest_invalid_param', __( 'Invalid parameter(s): action', 'coex-whatsapp' ), array( 'status' => 400 ) );
		}
		return self::with_thread(
			$request,
			static function ( Coex_Extension_Client $client, $thread_id ) use ( $action ) {
				return $client->set_bot( $thread_id, $action, self::actor() );
			}
		);
	}

	/**
	 * POST /orders/<id>/messages.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return WP_REST_Response|WP_Error
	 */
	public static function send_message( $request ) {
		$payload = self::message_payload( $request->get_param( 'text' ), $request->get_param( 'template' ) );
		if ( is_wp_error( $payload ) ) {
			return $payload;
		}
		$payload['actor'] = self::actor();
		$client_ref       = $request->get_param( 'client_ref' );
		if ( is_string( $client_ref ) && preg_match( '/^[A-Za-z0-9_-]{8,64}$/', $client_ref ) ) {
			$payload['client_ref'] = $client_ref;
		}
		return self::with_thread(
			$request,
			static function ( Coex_Extension_Client $client, $thread_id ) use ( $payload ) {
				return $client->send_message( $thread_id, $payload );
			}
		);
	}

	/**
	 * Who is acting, for CoEx's records: the WordPress user's email, else login. CoEx trusts it
	 * because the request is signed with this store's key (the plugin vouches for its user).
	 *
	 * @return string
	 */
	public static function actor() {
		$user = wp_get_current_user();
		if ( ! $user || ! $user->ID ) {
			return '';
		}
		return '' !== (string) $user->user_email ? (string) $user->user_email : (string) $user->user_login;
	}

	/**
	 * Validates a reply: exactly one of non-empty text or a template with name and language, whose
	 * optional body_parameters are a list of values (positional template) or an object keyed by
	 * placeholder name (named template), as CoEx's extension API takes them.
	 *
	 * @param mixed $text     Text.
	 * @param mixed $template Template.
	 * @return array<string,mixed>|WP_Error
	 */
	public static function message_payload( $text, $template ) {
		$has_text     = is_string( $text ) && '' !== trim( $text );
		$has_template = is_array( $template ) && isset( $template['name'], $template['language'] )
			&& is_string( $template['name'] ) && is_string( $template['language'] )
			&& preg_match( '/^[a-z0-9_]{1,512}$/', $template['name'] ) && preg_match( '/^[a-z]{2,3}(_[A-Z]{2})?$/', $template['language'] );
		if ( $has_text === $has_template ) {
			return new WP_Error( 'rest_invalid_param', __( 'Send either a non-empty text or a template with name and language.', 'coex-whatsapp' ), array( 'status' => 400 ) );
		}
		if ( $has_text ) {
			$text = trim( $text );
			if ( mb_strlen( $text ) > self::MAX_TEXT ) {
				return new WP_Error( 'rest_invalid_param', __( 'The message is too long (4096 characters at most).', 'coex-whatsapp' ), array( 'status' => 400 ) );
			}
			return array( 'text' => $text );
		}
		$out = array(
			'name'     => $template['name'],
			'language' => $template['language'],
		);
		if ( isset( $template['body_parameters'] ) ) {
			$parameters = self::body_parameters( $template['body_parameters'] );
			if ( is_wp_error( $parameters ) ) {
				return $parameters;
			}
			if ( array() !== $parameters ) {
				$out['body_parameters'] = $parameters;
			}
		}
		return array( 'template' => $out );
	}

	/**
	 * A template's body values: a list stays a list (positional {{1}}, {{2}}…), string keys make an
	 * object (named {{first_name}}…). Every value must be a non-empty string; WhatsApp refuses
	 * parameters with line breaks or tabs, so those are refused here with a clear message.
	 *
	 * @param mixed $raw Decoded JSON.
	 * @return array<int|string,string>|object|WP_Error  A list, or an stdClass so it encodes as a JSON object.
	 */
	private static function body_parameters( $raw ) {
		$invalid = new WP_Error( 'rest_invalid_param', __( 'Template values must be a list of texts or an object of texts keyed by placeholder name.', 'coex-whatsapp' ), array( 'status' => 400 ) );
		if ( $raw instanceof stdClass ) {
			$raw = (array) $raw;
		}
		if ( ! is_array( $raw ) || count( $raw ) > self::MAX_PARAMETERS ) {
			return $invalid;
		}
		if ( array() === $raw ) {
			return array();
		}
		$positional = array_keys( $raw ) === range( 0, count( $raw ) - 1 );
		$values     = array();
		foreach ( $raw as $name => $value ) {
			if ( ! $positional && ! preg_match( '/^[a-z_][a-z0-9_]{0,63}$/', (string) $name ) ) {
				return $invalid;
			}
			if ( ! is_string( $value ) || '' === trim( $value ) ) {
				return new WP_Error( 'rest_invalid_param', __( 'Every template value is required.', 'coex-whatsapp' ), array( 'status' => 400 ) );
			}
			$value = trim( $value );
			if ( preg_match( '/[\r\n\t]/', $value ) || mb_strlen( $value ) > self::MAX_PARAMETER ) {
				return new WP_Error( 'rest_invalid_param', __( 'A template value cannot contain line breaks or tabs, nor be longer than 1024 characters.', 'coex-whatsapp' ), array( 'status' => 400 ) );
			}
			$values[ $name ] = $value;
		}
		return $positional ? array_values( $values ) : (object) $values;
	}

	// ── templates and campaigns (read-only) ───────────────────────────────────────────────────

	/**
	 * GET /templates?phone_number_id=.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return WP_REST_Response|WP_Error
	 */
	public static function templates( $request ) {
		$phone_number_id = $request->get_param( 'phone_number_id' );
		$phone_number_id = is_scalar( $phone_number_id ) ? (string) $phone_number_id : '';
		if ( '' !== $phone_number_id && ! preg_match( '/^[0-9]{1,32}$/', $phone_number_id ) ) {
			return new WP_Error( 'rest_invalid_param', __( 'Invalid parameter(s): phone_number_id', 'coex-whatsapp' ), array( 'status' => 400 ) );
		}
		$client = Coex_Extension_Client::from_settings();
		if ( is_wp_error( $client ) ) {
			return $client;
		}
		$data = $client->get_templates( $phone_number_id );
		if ( is_wp_error( $data ) ) {
			return self::explain_templates_error( $data );
		}
		return new WP_REST_Response( self::templates_view( $data ), 200 );
	}

	/**
	 * GET /orders/<id>/campaigns: the order's billing phone, never one from the browser.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return WP_REST_Response|WP_Error
	 */
	public static function campaigns( $request ) {
		$order = self::order_from_request( $request );
		if ( is_wp_error( $order ) ) {
			return $order;
		}
		$phone = Coex_Phone::normalize( $order->get_billing_phone(), Coex_Phone_Index::country_code() );
		if ( null === $phone ) {
			// No customer to look up: nothing to report, and nothing is sent to CoEx.
			return new WP_REST_Response(
				array(
					'campaigns' => array(),
					'opt_out'   => null,
				),
				200
			);
		}
		$client = Coex_Extension_Client::from_settings();
		if ( is_wp_error( $client ) ) {
			return $client;
		}
		$data = $client->get_campaigns( $phone, self::MAX_CAMPAIGNS );
		if ( is_wp_error( $data ) ) {
			return $data;
		}
		return new WP_REST_Response( self::campaigns_view( $data ), 200 );
	}

	/**
	 * The template list's errors in the store's language (CoEx's own messages are English).
	 *
	 * @param WP_Error $error From the client.
	 * @return WP_Error
	 */
	private static function explain_templates_error( $error ) {
		$messages = array(
			'coex_no_number'             => __( 'No WhatsApp number is connected to CoEx yet, so there are no templates.', 'coex-whatsapp' ),
			'coex_not_found'             => __( 'This conversation\'s business number is no longer connected to CoEx.', 'coex-whatsapp' ),
			'coex_templates_unavailable' => __( 'WhatsApp\'s list of approved templates could not be loaded; try again in a moment.', 'coex-whatsapp' ),
		);
		$code     = $error->get_error_code();
		if ( ! isset( $messages[ $code ] ) ) {
			return $error;
		}
		$data = $error->get_error_data();
		return new WP_Error( $code, $messages[ $code ], is_array( $data ) ? $data : array( 'status' => 502 ) );
	}

	/**
	 * The template list reduced to what the picker uses; malformed entries are dropped.
	 *
	 * @param array<string,mixed> $data CoEx's answer.
	 * @return array{templates: array<int,array<string,mixed>>, stale: bool, fetched_at: string|null}
	 */
	public static function templates_view( $data ) {
		$templates = array();
		foreach ( isset( $data['templates'] ) && is_array( $data['templates'] ) ? $data['templates'] : array() as $t ) {
			if ( ! is_array( $t ) || ! isset( $t['name'], $t['language'] ) || ! is_string( $t['name'] ) || ! is_string( $t['language'] ) ) {
				continue;
			}
			$parameters = isset( $t['parameters'] ) && is_array( $t['parameters'] ) ? $t['parameters'] : array();
			$names      = array();
			foreach ( isset( $parameters['names'] ) && is_array( $parameters['names'] ) ? $parameters['names'] : array() as $name ) {
				if ( is_scalar( $name ) ) {
					$names[] = (string) $name;
				}
			}
			$templates[] = array(
				'name'              => $t['name'],
				'language'          => $t['language'],
				'category'          => isset( $t['category'] ) && is_string( $t['category'] ) ? $t['category'] : null,
				'body'              => isset( $t['body'] ) && is_string( $t['body'] ) ? $t['body'] : '',
				'parameters'        => array(
					'format' => isset( $parameters['format'] ) && 'named' === $parameters['format'] ? 'named' : 'positional',
					'names'  => $names,
				),
				'sendable'          => isset( $t['sendable'] ) && true === $t['sendable'],
				'unsendable_reason' => isset( $t['unsendable_reason'] ) && is_string( $t['unsendable_reason'] ) ? $t['unsendable_reason'] : null,
			);
		}
		return array(
			'templates'  => $templates,
			'stale'      => isset( $data['stale'] ) && true === $data['stale'],
			'fetched_at' => isset( $data['fetched_at'] ) && is_string( $data['fetched_at'] ) ? $data['fetched_at'] : null,
		);
	}

	/**
	 * The campaign reports reduced to what the meta box shows; malformed entries are dropped.
	 *
	 * @param array<string,mixed> $data CoEx's answer.
	 * @return array{campaigns: array<int,array<string,mixed>>, opt_out: array<string,mixed>|null}
	 */
	public static function campaigns_view( $data ) {
		$campaigns = array();
		$keys      = array_flip( array( 'id', 'name', 'status', 'template', 'created_at', 'started_at', 'completed_at', 'counts', 'failures', 'recipient' ) );
		foreach ( isset( $data['campaigns'] ) && is_array( $data['campaigns'] ) ? $data['campaigns'] : array() as $c ) {
			if ( is_array( $c ) && isset( $c['id'], $c['name'] ) && is_scalar( $c['id'] ) && is_string( $c['name'] ) ) {
				$campaigns[] = array_intersect_key( $c, $keys );
			}
		}
		$opt_out = isset( $data['opt_out'] ) && is_array( $data['opt_out'] ) ? array_intersect_key( $data['opt_out'], array_flip( array( 'source', 'detail', 'at' ) ) ) : null;
		return array(
			'campaigns' => $campaigns,
			'opt_out'   => $opt_out,
		);
	}

	/**
	 * Runs $action with the client and the thread id of the order's phone.
	 *
	 * @param WP_REST_Request $request Request.
	 * @param callable        $action  function( Coex_Extension_Client, string ): array|WP_Error.
	 * @return WP_REST_Response|WP_Error
	 */
	private static function with_thread( $request, $action ) {
		$order = self::order_from_request( $request );
		if ( is_wp_error( $order ) ) {
			return $order;
		}
		$phone = Coex_Phone::normalize( $order->get_billing_phone(), Coex_Phone_Index::country_code() );
		if ( null === $phone ) {
			return new WP_Error( 'coex_no_phone', __( 'This order has no usable billing phone.', 'coex-whatsapp' ), array( 'status' => 422 ) );
		}
		$client = Coex_Extension_Client::from_settings();
		if ( is_wp_error( $client ) ) {
			return $client;
		}
		$thread = self::fetch_thread( $phone, $client );
		if ( is_wp_error( $thread ) ) {
			return $thread;
		}
		if ( null === $thread['thread'] ) {
			return new WP_Error( 'coex_no_thread', __( 'There is no WhatsApp conversation with this number yet.', 'coex-whatsapp' ), array( 'status' => 404 ) );
		}
		$result = $action( $client, $thread['thread']['id'] );
		return is_wp_error( $result ) ? $result : new WP_REST_Response( $result, 200 );
	}

	/**
	 * CoEx's thread for a phone, reduced to the fields the timeline uses.
	 *
	 * @param string                     $phone  E.164.
	 * @param Coex_Extension_Client|null $client Client (from settings when null).
	 * @return array{thread: array<string,mixed>|null, messages: array<int,array<string,mixed>>, sync: mixed}|WP_Error
	 */
	public static function fetch_thread( $phone, $client = null ) {
		$client = null !== $client ? $client : Coex_Extension_Client::from_settings();
		if ( is_wp_error( $client ) ) {
			return $client;
		}
		$data = $client->get_thread( $phone );
		if ( is_wp_error( $data ) ) {
			return $data;
		}
		$thread = isset( $data['thread'] ) && is_array( $data['thread'] ) ? $data['thread'] : null;
		if ( null !== $thread && ( ! isset( $thread['id'] ) || ! is_scalar( $thread['id'] ) || '' === (string) $thread['id'] ) ) {
			return new WP_Error( 'coex_bad_response', __( 'CoEx returned a thread without an id.', 'coex-whatsapp' ), array( 'status' => 502 ) );
		}
		if ( null !== $thread ) {
			$thread['id'] = (string) $thread['id'];
		}
		$messages = array();
		foreach ( isset( $data['messages'] ) && is_array( $data['messages'] ) ? $data['messages'] : array() as $m ) {
			if ( is_array( $m ) && isset( $m['id'] ) ) {
				$messages[] = array_intersect_key( $m, array_flip( array( 'id', 'direction', 'origin', 'type', 'text', 'timestamp', 'status', 'transcript', 'transcript_state', 'media' ) ) );
			}
		}
		return array(
			'thread'   => $thread,
			'messages' => $messages,
			'sync'     => isset( $data['sync'] ) ? $data['sync'] : null,
		);
	}

	/**
	 * The order named by the route, or 404.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return WC_Order|WP_Error
	 */
	private static function order_from_request( $request ) {
		$order = wc_get_order( absint( $request->get_param( 'id' ) ) );
		if ( ! $order instanceof WC_Order ) {
			return new WP_Error( 'coex_order_not_found', __( 'Order not found.', 'coex-whatsapp' ), array( 'status' => 404 ) );
		}
		return $order;
	}
}
