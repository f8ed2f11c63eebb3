<?php
/**
 * A normalized copy of each order's billing phone in order meta `_coex_billing_phone_e164`, so the
 * lookup route finds "06.12.34.56.78" and "+212 6 12 34 56 78" with one indexed equality query on
 * both HPOS and legacy storage. Set just before WooCommerce saves an order (no second save);
 * orders older than the plugin are indexed by a background batch (Action Scheduler) after activation.
 *
 * @package CoexWhatsApp
 */

defined( 'ABSPATH' ) || exit;

/**
 * Billing phone index.
 */
final class Coex_Phone_Index {

	const META_KEY   = '_coex_billing_phone_e164';
	const HOOK       = 'coex_whatsapp_index_phones';
	const BATCH_SIZE = 200;

	/**
	 * Hooks.
	 */
	public static function init() {
		add_action( 'woocommerce_before_order_object_save', array( __CLASS__, 'before_save' ), 10, 1 );
		add_action( self::HOOK, array( __CLASS__, 'index_batch' ), 10, 1 );
	}

	/**
	 * Default calling code for national numbers, filterable per store.
	 *
	 * @return string
	 */
	public static function country_code() {
		return (string) apply_filters( 'coex_whatsapp_default_country_code', '212' );
	}

	/**
	 * Keeps the normalized phone in step with the billing phone.
	 *
	 * @param WC_Order $order Order about to be saved.
	 */
	public static function before_save( $order ) {
		if ( ! $order instanceof WC_Order ) {
			return;
		}
		$e164 = Coex_Phone::normalize( $order->get_billing_phone(), self::country_code() );
		if ( null === $e164 ) {
			$order->delete_meta_data( self::META_KEY );
		} elseif ( $order->get_meta( self::META_KEY ) !== $e164 ) {
			$order->update_meta_data( self::META_KEY, $e164 );
		}
	}

	/**
	 * Indexes one page of orders (oldest id first) and queues the next page.
	 *
	 * @param int $page 1-based page.
	 */
	public static function index_batch( $page = 1 ) {
		$page = max( 1, (int) $page );
		$ids  = wc_get_orders(
			array(
				'type'    => 'shop_order',
				'limit'   => self::BATCH_SIZE,
				'paged'   => $page,
				'orderby' => 'ID',
				'order'   => 'ASC',
				'return'  => 'ids',
			)
		);
		foreach ( $ids as $id ) {
			$order = wc_get_order( $id );
			if ( ! $order instanceof WC_Order ) {
				continue;
			}
			$e164 = Coex_Phone::normalize( $order->get_billing_phone(), self::country_code() );
			if ( null !== $e164 && $order->get_meta( self::META_KEY ) !== $e164 ) {
				$order->update_meta_data( self::META_KEY, $e164 );
				$order->save_meta_data();
			}
		}
		if ( count( $ids ) === self::BATCH_SIZE && function_exists( 'as_enqueue_async_action' ) ) {
			as_enqueue_async_action( self::HOOK, array( $page + 1 ), 'coex-whatsapp' );
		}
	}

	/**
	 * Starts the background indexing of existing orders.
	 */
	public static function on_activation() {
		if ( function_exists( 'as_enqueue_async_action' ) ) {
			as_enqueue_async_action( self::HOOK, array( 1 ), 'coex-whatsapp' );
		}
	}

	/**
	 * Stops pending indexing batches.
	 */
	public static function on_deactivation() {
		if ( function_exists( 'as_unschedule_all_actions' ) ) {
			as_unschedule_all_actions( self::HOOK );
		}
	}
}
