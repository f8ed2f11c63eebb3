<?php
/**
 * The order's own history for the timeline: its creation, payment, and its notes, with status
 * changes recognized (WooCommerce keeps no separate status log: each transition is an order note
 * "Order status changed from X to Y.", translated with the site's locale). CoEx's own archive notes
 * (an empty `<span data-coex-refs="…">` at their end, or a "[coex:…]" line from earlier versions)
 * are left out: their messages already come from CoEx.
 *
 * @package CoexWhatsApp
 */

defined( 'ABSPATH' ) || exit;

/**
 * Order events.
 */
final class Coex_Order_Timeline {

	/**
	 * Events of an order, oldest first.
	 *
	 * @param WC_Order $order Order.
	 * @return array<int,array<string,mixed>>
	 */
	public static function events( $order ) {
		$events  = array();
		$created = $order->get_date_created();
		if ( $created ) {
			$events[] = array(
				'id'   => 'order-created',
				'type' => 'created',
				'at'   => self::iso( $created ),
				/* translators: %s: order number */
				'text' => sprintf( __( 'Order #%s placed', 'coex-whatsapp' ), $order->get_order_number() ),
			);
		}
		$paid = $order->get_date_paid();
		if ( $paid ) {
			$events[] = array(
				'id'   => 'order-paid',
				'type' => 'paid',
				'at'   => self::iso( $paid ),
				'text' => __( 'Payment received', 'coex-whatsapp' ),
			);
		}
		$notes = wc_get_order_notes( array( 'order_id' => $order->get_id() ) );
		foreach ( is_array( $notes ) ? $notes : array() as $note ) {
			$raw  = (string) $note->content;
			$text = trim( wp_strip_all_tags( $raw ) );
			if ( '' === $text || self::is_coex_note( $raw ) || ! $note->date_created ) {
				continue;
			}
			$event  = array(
				'id'            => 'note-' . (int) $note->id,
				'type'          => 'note',
				'at'            => self::iso( $note->date_created ),
				'text'          => $text,
				'customer_note' => (bool) $note->customer_note,
			);
			$change = self::status_change( $text );
			if ( null !== $change ) {
				$event['type'] = 'status';
				$event['from'] = $change['from'];
				$event['to']   = $change['to'];
			}
			$events[] = $event;
		}
		usort(
			$events,
			static function ( $a, $b ) {
				return strcmp( $a['at'], $b['at'] );
			}
		);
		return $events;
	}

	/**
	 * Whether a note was written by CoEx's connector (see connectors/src/woocommerce/format.ts).
	 *
	 * @param string $content Raw note content.
	 * @return bool
	 */
	public static function is_coex_note( $content ) {
		return false !== strpos( $content, 'data-coex-refs="' ) || false !== strpos( $content, '[coex:' );
	}

	/**
	 * "Order status changed from Pending payment to Processing." in the site's language → labels.
	 *
	 * @param string $text Note text.
	 * @return array{from: string, to: string}|null
	 */
	public static function status_change( $text ) {
		// Same msgid as WooCommerce's WC_Order::status_transition(), so the site's translation applies.
		/* translators: 1: previous order status, 2: new order status (WooCommerce's own string). */
		$format  = translate( 'Order status changed from %1$s to %2$s.', 'woocommerce' ); // phpcs:ignore WordPress.WP.I18n.TextDomainMismatch, WordPress.WP.I18n.LowLevelTranslationFunction -- translate(), not __(): the .pot of this plugin must not carry WooCommerce's string.
		$pattern = '/' . str_replace( array( preg_quote( '%1$s', '/' ), preg_quote( '%2$s', '/' ) ), array( '(?P<from>.+?)', '(?P<to>.+?)' ), preg_quote( $format, '/' ) ) . '/u';
		if ( preg_match( $pattern, $text, $m ) ) {
			return array(
				'from' => $m['from'],
				'to'   => $m['to'],
			);
		}
		return null;
	}

	/**
	 * ISO 8601 UTC with "Z", the format the timeline JS sorts by.
	 *
	 * @param DateTimeInterface $date Date.
	 * @return string
	 */
	public static function iso( $date ) {
		return gmdate( 'Y-m-d\TH:i:s\Z', $date->getTimestamp() );
	}
}
