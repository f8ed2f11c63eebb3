<?php
/**
 * Order screen integration: HPOS declaration, HPOS/legacy screen selection, the meta box callback
 * with WC_Order or WP_Post, and asset loading.
 *
 * @package CoexWhatsApp
 */

use Automattic\WooCommerce\Utilities\FeaturesUtil;
use Automattic\WooCommerce\Utilities\OrderUtil;
use PHPUnit\Framework\TestCase;

final class MetaboxTest extends TestCase {

	protected function setUp(): void {
		Coex_Test_WP::reset();
		Coex_Test_Fixtures::store();
	}

	public function test_declares_hpos_compatibility_before_woocommerce_init() {
		FeaturesUtil::$declared = array();
		do_action( 'before_woocommerce_init' );
		$this->assertSame( array( array( 'custom_order_tables', COEX_WHATSAPP_FILE, true ) ), FeaturesUtil::$declared );
	}

	public function test_screen_is_the_hpos_orders_page_or_shop_order() {
		OrderUtil::$hpos = true;
		$this->assertSame( 'woocommerce_page_wc-orders', Coex_Order_Metabox::screen_id() );
		OrderUtil::$hpos = false;
		$this->assertSame( 'shop_order', Coex_Order_Metabox::screen_id() );
	}

	public function test_meta_box_is_added_to_the_active_screen() {
		foreach ( array( true => 'woocommerce_page_wc-orders', false => 'shop_order' ) as $hpos => $screen ) {
			Coex_Test_WP::$meta_boxes = array();
			OrderUtil::$hpos          = (bool) $hpos;
			Coex_Order_Metabox::register();
			$this->assertCount( 1, Coex_Test_WP::$meta_boxes );
			$box = Coex_Test_WP::$meta_boxes[0];
			$this->assertSame( array( 'coex-whatsapp-timeline', $screen, 'normal' ), array( $box['id'], $box['screen'], $box['context'] ) );
			$this->assertSame( array( 'Coex_Order_Metabox', 'render' ), $box['callback'] );
		}
	}

	private function render( $arg ) {
		ob_start();
		Coex_Order_Metabox::render( $arg );
		return (string) ob_get_clean();
	}

	public function test_callback_accepts_wc_order_and_wp_post_alike() {
		$from_order = $this->render( Coex_Test_WP::$orders[1003] );
		$from_post  = $this->render( new WP_Post( 1003 ) );
		$this->assertSame( $from_order, $from_post );
		$this->assertStringContainsString( 'data-timeline-url="https://shop.example.ma/wp-json/coex/v1/orders/1003/timeline"', $from_order );
		$this->assertStringContainsString( 'data-bot-url="https://shop.example.ma/wp-json/coex/v1/orders/1003/bot"', $from_order );
		$this->assertStringContainsString( 'data-messages-url="https://shop.example.ma/wp-json/coex/v1/orders/1003/messages"', $from_order );
		$this->assertStringContainsString( 'data-templates-url="https://shop.example.ma/wp-json/coex/v1/templates"', $from_order );
		$this->assertStringContainsString( 'data-campaigns-url="https://shop.example.ma/wp-json/coex/v1/orders/1003/campaigns"', $from_order );
		$nonce = array_search( 'wp_rest', Coex_Test_WP::$nonces, true );
		$this->assertStringContainsString( 'data-nonce="' . $nonce . '"', $from_order );
		$this->assertStringContainsString( 'with 06.12.34.56.78', $from_order );

		// The module picks its words (the shared catalogue) by the user's locale, handed over as is.
		$this->assertStringContainsString( 'data-locale="en_US"', $from_order );
		$this->assertStringNotContainsString( 'data-i18n', $from_order );
	}

	public function test_hands_the_module_the_user_locale_escaped() {
		Coex_Test_WP::$locale = 'ar';
		$this->assertStringContainsString( 'data-locale="ar"', $this->render( Coex_Test_WP::$orders[1003] ) );
		Coex_Test_WP::$locale = 'fr_FR"><script>';
		$html                 = $this->render( Coex_Test_WP::$orders[1003] );
		$this->assertStringContainsString( 'data-locale="fr_FR&quot;&gt;&lt;script&gt;"', $html );
		$this->assertStringNotContainsString( '<script>', $html );
	}

	public function test_billing_phone_is_escaped_and_unknown_posts_are_handled() {
		Coex_Test_WP::$orders[4000] = new WC_Order( array( 'id' => 4000, 'billing_phone' => '<script>alert(1)</script>' ) );
		$html                       = $this->render( Coex_Test_WP::$orders[4000] );
		$this->assertStringNotContainsString( '<script>', $html );
		$this->assertStringContainsString( '&lt;script&gt;', $html );
		$this->assertStringContainsString( 'Save the order', $this->render( new WP_Post( 999999 ) ) );
		$this->assertStringContainsString( 'no billing phone', $this->render( new WC_Order( array( 'id' => 4001 ) ) ) );
	}

	public function test_assets_load_on_the_order_screen_only() {
		OrderUtil::$hpos      = true;
		Coex_Test_WP::$screen = (object) array( 'id' => 'edit-shop_order' );
		Coex_Order_Metabox::enqueue();
		$this->assertSame( array(), Coex_Test_WP::$enqueued );

		Coex_Test_WP::$screen = (object) array( 'id' => 'woocommerce_page_wc-orders' );
		Coex_Order_Metabox::enqueue();
		$this->assertSame( 'coex-whatsapp-timeline', Coex_Test_WP::$enqueued['module'][0][0] );
		$this->assertStringEndsWith( '/assets/js/coex-timeline.js', Coex_Test_WP::$enqueued['module'][0][1] );
		$this->assertStringEndsWith( '/assets/css/coex-timeline.css', Coex_Test_WP::$enqueued['style'][0][1] );
	}
}
