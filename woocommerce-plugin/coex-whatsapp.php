<?php
/**
 * Plugin Name:       CoEx WhatsApp for WooCommerce
 * Plugin URI:        https://github.com/coex-platform/coex
 * Description:       Shows each order's WhatsApp conversation (WhatsApp Business App + Cloud API "Coexistence" numbers, via a CoEx server) on the order screen, with the AI agent's state, a reply box, and a lookup route CoEx uses to find customers by phone.
 * Version:           0.2.0
 * Requires at least: 6.6
 * Requires PHP:      7.4
 * Requires Plugins:  woocommerce
 * Author:            CoEx contributors
 * License:           Apache-2.0
 * License URI:       https://www.apache.org/licenses/LICENSE-2.0
 * Text Domain:       coex-whatsapp
 * Domain Path:       /languages
 * WC requires at least: 8.2
 * WC tested up to:   9.8
 *
 * @package CoexWhatsApp
 */

defined( 'ABSPATH' ) || exit;

define( 'COEX_WHATSAPP_VERSION', '0.2.0' );
define( 'COEX_WHATSAPP_FILE', __FILE__ );
define( 'COEX_WHATSAPP_DIR', __DIR__ );

require_once __DIR__ . '/includes/class-coex-phone.php';
require_once __DIR__ . '/includes/class-coex-signer.php';
require_once __DIR__ . '/includes/class-coex-settings.php';
require_once __DIR__ . '/includes/class-coex-extension-client.php';
require_once __DIR__ . '/includes/class-coex-order-timeline.php';
require_once __DIR__ . '/includes/class-coex-phone-index.php';
require_once __DIR__ . '/includes/class-coex-rest.php';
require_once __DIR__ . '/includes/class-coex-order-metabox.php';

// HPOS: this plugin reads orders only through the CRUD API (wc_get_order, wc_get_orders, WC_Order getters).
add_action(
	'before_woocommerce_init',
	static function () {
		if ( class_exists( \Automattic\WooCommerce\Utilities\FeaturesUtil::class ) ) {
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', __FILE__, true );
		}
	}
);

add_action(
	'init',
	static function () {
		load_plugin_textdomain( 'coex-whatsapp', false, dirname( plugin_basename( __FILE__ ) ) . '/languages' );
	}
);

add_action(
	'plugins_loaded',
	static function () {
		// "Requires Plugins" stops activation without WooCommerce on WP 6.5+; this guards older paths (e.g. WooCommerce deactivated later).
		if ( ! function_exists( 'wc_get_order' ) ) {
			add_action( 'admin_notices', array( 'Coex_Settings', 'render_woocommerce_missing_notice' ) );
			return;
		}
		Coex_Settings::init();
		Coex_Rest::init();
		Coex_Order_Metabox::init();
		Coex_Phone_Index::init();
	}
);

register_activation_hook( __FILE__, array( 'Coex_Phone_Index', 'on_activation' ) );
register_deactivation_hook( __FILE__, array( 'Coex_Phone_Index', 'on_deactivation' ) );
