<?php
/**
 * Stubs of WooCommerce's namespaced utilities the plugin calls (see tests/bootstrap.php).
 *
 * @package CoexWhatsApp
 */

namespace Automattic\WooCommerce\Utilities;

/** HPOS switch: tests flip $hpos. */
class OrderUtil {
	/** @var bool */
	public static $hpos = true;
	public static function custom_orders_table_usage_is_enabled() {
		return self::$hpos;
	}
}

/** Records compatibility declarations. */
class FeaturesUtil {
	/** @var array<int,array{0: string, 1: string, 2: bool}> */
	public static $declared = array();
	public static function declare_compatibility( $feature, $plugin_file, $positive_compatibility = true ) {
		self::$declared[] = array( $feature, $plugin_file, $positive_compatibility );
		return true;
	}
}
