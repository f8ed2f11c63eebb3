<?php
/**
 * The "WhatsApp" meta box on the order edit screen, on both storages: HPOS
 * (wc_get_page_screen_id( 'shop-order' ), i.e. woocommerce_page_wc-orders) and legacy posts
 * (shop_order). The box is an empty container with data attributes; assets/js/coex-timeline.js
 * (an ES module) fills it from GET /wp-json/coex/v1/orders/<id>/timeline.
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
			'<div class="coex-timeline" data-coex-timeline data-timeline-url="%1$s" data-bot-url="%2$s" data-messages-url="%3$s" data-templates-url="%8$s" data-campaigns-url="%9$s" data-nonce="%4$s" data-i18n="%5$s"><p class="coex-timeline__loading">%6$s</p><noscript>%7$s</noscript></div>',
			esc_url( rest_url( $base . '/timeline' ) ),
			esc_url( rest_url( $base . '/bot' ) ),
			esc_url( rest_url( $base . '/messages' ) ),
			esc_attr( wp_create_nonce( 'wp_rest' ) ),
			esc_attr( (string) wp_json_encode( self::js_strings() ) ),
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
	 * Translated UI strings for the timeline module (script modules have no wp_set_script_translations).
	 * Keys match DEFAULT_STRINGS in assets/js/coex-timeline.js.
	 *
	 * @return array<string,string>
	 */
	public static function js_strings() {
		return array(
			'customer'          => __( 'Customer', 'coex-whatsapp' ),
			'app'               => __( 'Business App', 'coex-whatsapp' ),
			'api'               => __( 'API', 'coex-whatsapp' ),
			'agent'             => __( 'AI agent', 'coex-whatsapp' ),
			'history'           => __( 'History', 'coex-whatsapp' ),
			'statusChange'      => __( 'Order status', 'coex-whatsapp' ),
			'orderNote'         => __( 'Order note', 'coex-whatsapp' ),
			'windowOpen'        => __( 'Reply window open until', 'coex-whatsapp' ),
			'windowClosed'      => __( '24-hour window closed: only an approved template can be sent.', 'coex-whatsapp' ),
			'botActive'         => __( 'AI agent active', 'coex-whatsapp' ),
			'botPaused'         => __( 'AI agent paused', 'coex-whatsapp' ),
			'botPausedUntil'    => __( 'AI agent paused until', 'coex-whatsapp' ),
			'botOff'            => __( 'AI agent off', 'coex-whatsapp' ),
			'botHandoff'        => __( 'Customer asked for a person', 'coex-whatsapp' ),
			'historyImport'     => __( 'WhatsApp history import in progress: older messages may still arrive', 'coex-whatsapp' ),
			'pause'             => __( 'Pause agent', 'coex-whatsapp' ),
			'resume'            => __( 'Resume agent', 'coex-whatsapp' ),
			'off'               => __( 'Turn agent off', 'coex-whatsapp' ),
			'send'              => __( 'Send', 'coex-whatsapp' ),
			'sendTemplate'      => __( 'Send template', 'coex-whatsapp' ),
			'replyPlaceholder'  => __( 'Reply on WhatsApp…', 'coex-whatsapp' ),
			'noThread'          => __( 'No WhatsApp conversation with this number yet.', 'coex-whatsapp' ),
			'noPhone'           => __( 'This order has no usable billing phone.', 'coex-whatsapp' ),
			'transcript'        => __( 'Transcript', 'coex-whatsapp' ),
			'transcribing'      => __( 'Transcribing…', 'coex-whatsapp' ),
			'voiceNote'         => __( 'Voice note', 'coex-whatsapp' ),
			'loadFailed'        => __( 'Could not load the conversation.', 'coex-whatsapp' ),
			'retry'             => __( 'Retry', 'coex-whatsapp' ),
			'template'          => __( 'Template', 'coex-whatsapp' ),
			'chooseTemplate'    => __( 'Choose an approved template…', 'coex-whatsapp' ),
			'templatesLoading'  => __( 'Loading the approved templates…', 'coex-whatsapp' ),
			'templatesEmpty'    => __( 'No approved template can be sent from here. Create one in WhatsApp Manager, then reload this page.', 'coex-whatsapp' ),
			'templatesFailed'   => __( 'Could not load the approved templates.', 'coex-whatsapp' ),
			'templatesStale'    => __( 'WhatsApp could not be reached: this list may be out of date.', 'coex-whatsapp' ),
			/* translators: %s: a template placeholder such as {{1}} or {{first_name}} */
			'templateValue'     => __( 'Value for %s', 'coex-whatsapp' ),
			'templatePreview'   => __( 'Preview', 'coex-whatsapp' ),
			'templateMissing'   => __( 'Fill in every value of the template.', 'coex-whatsapp' ),
			'campaigns'         => __( 'Campaigns', 'coex-whatsapp' ),
			'campaignsLoading'  => __( 'Loading campaign reports…', 'coex-whatsapp' ),
			'campaignsNone'     => __( 'This customer was not in any campaign.', 'coex-whatsapp' ),
			'campaignsFailed'   => __( 'Could not load the campaign reports.', 'coex-whatsapp' ),
			/* translators: %s: template name and language, e.g. "promo_ramadan (ar)" */
			'campaignTemplate'  => __( 'Template: %s', 'coex-whatsapp' ),
			'campaignDraft'     => _x( 'Draft', 'campaign status', 'coex-whatsapp' ),
			'campaignScheduled' => _x( 'Scheduled', 'campaign status', 'coex-whatsapp' ),
			'campaignRunning'   => _x( 'Running', 'campaign status', 'coex-whatsapp' ),
			'campaignPaused'    => _x( 'Paused', 'campaign status', 'coex-whatsapp' ),
			'campaignCompleted' => _x( 'Completed', 'campaign status', 'coex-whatsapp' ),
			/* translators: %s: this customer's outcome, e.g. "read · replied" or "failed — 131049: …" */
			'campaignCustomer'  => __( 'This customer: %s', 'coex-whatsapp' ),
			/* translators: 1: sent, 2: delivered, 3: read, 4: failed, 5: replied, 6: recipients in the campaign (all formatted numbers) */
			'campaignCounts'    => __( '%1$s sent · %2$s delivered · %3$s read · %4$s failed · %5$s replied, of %6$s', 'coex-whatsapp' ),
			'outcomeQueued'     => _x( 'queued', 'campaign message outcome', 'coex-whatsapp' ),
			'outcomeSending'    => _x( 'sending', 'campaign message outcome', 'coex-whatsapp' ),
			'outcomeSent'       => _x( 'sent', 'campaign message outcome', 'coex-whatsapp' ),
			'outcomeDelivered'  => _x( 'delivered', 'campaign message outcome', 'coex-whatsapp' ),
			'outcomeRead'       => _x( 'read', 'campaign message outcome', 'coex-whatsapp' ),
			'outcomeFailed'     => _x( 'failed', 'campaign message outcome', 'coex-whatsapp' ),
			'outcomeSkipped'    => _x( 'skipped', 'campaign message outcome', 'coex-whatsapp' ),
			'outcomeReplied'    => _x( 'replied', 'campaign message outcome', 'coex-whatsapp' ),
			/* translators: 1: why (e.g. 'baraka' or "from the CRM"), 2: date */
			'optedOut'          => __( 'Opted out of marketing — %1$s, %2$s', 'coex-whatsapp' ),
			/* translators: %s: the word the customer wrote to stop marketing messages */
			'optOutKeyword'     => __( "'%s'", 'coex-whatsapp' ),
			'optOutApi'         => __( 'through the API', 'coex-whatsapp' ),
			'optOutCrm'         => __( 'from the CRM', 'coex-whatsapp' ),
			'optOutBlocked'     => __( 'stopped marketing messages in WhatsApp', 'coex-whatsapp' ),
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
