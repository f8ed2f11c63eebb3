<?php
/**
 * The "WhatsApp" meta box on the order edit screen, on both storages: HPOS
 * (wc_get_page_screen_id( 'shop-order' ), i.e. woocommerce_page_wc-orders) and legacy posts
 * (shop_order). The box is an empty container with data attributes; assets/js/coex-timeline.js
 * (an ES module) fills it from GET /wp-json/coex/v1/orders/<id>/timeline. The module's words come
 * from the string catalogue it ships (ui-shared, French, English, Arabic) in the user's locale
 * (data-locale); the PHP strings below stay in gettext.
 *
 * @package CoexWhatsApp
 */

defined( 'ABSPATH' ) || exit;

/**
 * Order screen meta box.
 */
final class Coex_Order_Metabox {

	const ID        = 'coex-whatsapp-timeline';
	const MODULE_ID = 'coex-whatsapp-timeline';

	/**
	 * Hooks.
	 */
	public static function init() {
		add_action( 'add_meta_boxes', array( __CLASS__, 'register' ) );
		add_action( 'admin_enqueue_scripts', array( __CLASS__, 'enqueue' ) );
	}

	/**
	 * True when WooCommerce stores orders in its own tables (HPOS) and serves them from that screen.
	 *
	 * @return bool
	 */
	public static function hpos_enabled() {
		return class_exists( \Automattic\WooCommerce\Utilities\OrderUtil::class )
			&& \Automattic\WooCommerce\Utilities\OrderUtil::custom_orders_table_usage_is_enabled();
	}

	/**
	 * The order edit screen id for the active storage.
	 *
	 * @return string
	 */
	public static function screen_id() {
		return self::hpos_enabled() && function_exists( 'wc_get_page_screen_id' ) ? wc_get_page_screen_id( 'shop-order' ) : 'shop_order';
	}

	/**
	 * Adds the meta box.
	 */
	public static function register() {
		add_meta_box(
			self::ID,
			__( 'WhatsApp', 'coex-whatsapp' ),
			array( __CLASS__, 'render' ),
			self::screen_id(),
			'normal',
			'default'
		);
	}

	/**
	 * The order behind a meta box callback argument: WC_Order on HPOS, WP_Post on legacy.
	 *
	 * @param mixed $post_or_order WP_Post|WC_Order.
	 * @return WC_Order|null
	 */
	public static function order_of( $post_or_order ) {
		if ( $post_or_order instanceof WC_Order ) {
			return $post_or_order;
		}
		if ( $post_or_order instanceof WP_Post ) {
			$order = wc_get_order( $post_or_order->ID );
			return $order instanceof WC_Order ? $order : null;
		}
		return null;
	}

	/**
	 * Meta box content.
	 *
	 * @param WP_Post|WC_Order $post_or_order Screen object.
	 */
	public static function render( $post_or_order ) {
		$order = self::order_of( $post_or_order );
		if ( null === $order ) {
			echo '<p>' . esc_html__( 'Save the order to see its WhatsApp conversation.', 'coex-whatsapp' ) . '</p>';
			return;
		}
		$phone = $order->get_billing_phone();
		$base  = Coex_Rest::NAMESPACE_V1 . '/orders/' . $order->get_id();
		printf(
			'<div class="coex-timeline" data-coex-timeline data-timeline-url="%1$s" data-bot-url="%2$s" data-messages-url="%3$s" data-templates-url="%8$s" data-campaigns-url="%9$s" data-nonce="%4$s" data-locale="%5$s"><p class="coex-timeline__loading">%6$s</p><noscript>%7$s</noscript></div>',
			esc_url( rest_url( $base . '/timeline' ) ),
			esc_url( rest_url( $base . '/bot' ) ),
			esc_url( rest_url( $base . '/messages' ) ),
			esc_attr( wp_create_nonce( 'wp_rest' ) ),
			esc_attr( get_user_locale() ),
			'' !== $phone
				/* translators: %s: billing phone */
				? esc_html( sprintf( __( 'Loading the WhatsApp conversation with %s…', 'coex-whatsapp' ), $phone ) )
				: esc_html__( 'This order has no billing phone.', 'coex-whatsapp' ),
			esc_html__( 'The WhatsApp timeline needs JavaScript.', 'coex-whatsapp' ),
			esc_url( rest_url( Coex_Rest::NAMESPACE_V1 . '/templates' ) ),
			esc_url( rest_url( $base . '/campaigns' ) )
		);
	}

	/**
	 * Loads the timeline module and styles on the order edit screen only.
	 */
	public static function enqueue() {
		$screen = function_exists( 'get_current_screen' ) ? get_current_screen() : null;
		if ( ! $screen || self::screen_id() !== $screen->id ) {
			return;
		}
		$base = plugin_dir_url( COEX_WHATSAPP_FILE );
		wp_enqueue_style( 'coex-whatsapp-timeline', $base . 'assets/css/coex-timeline.css', array(), COEX_WHATSAPP_VERSION );
		wp_enqueue_script_module( self::MODULE_ID, $base . 'assets/js/coex-timeline.js', array(), COEX_WHATSAPP_VERSION );
	}
}
