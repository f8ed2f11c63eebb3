<?php
/**
 * Coex_Phone: the spellings of Moroccan (and foreign) numbers people type, to E.164.
 *
 * @package CoexWhatsApp
 */

use PHPUnit\Framework\TestCase;

final class PhoneTest extends TestCase {

	/** @return array<string,array{0: string}> */
	public function moroccan_spellings() {
		$cases = array(
			'0612345678', '06 12 34 56 78', '06.12.34.56.78', '06-12-34-56-78', '(06) 12 34 56 78',
			'+212612345678', '+212 6 12 34 56 78', '+212-6-12-34-56-78', '+(212) 6 12 34 56 78', '(+212) 612 345 678',
			'212612345678', '212 6 12 34 56 78', '00212612345678', '00 212 6 12 34 56 78', '+212 06 12 34 56 78',
			'+212 (0) 6 12 34 56 78', "  0612345678\t", "+212\u{00a0}6\u{00a0}12\u{00a0}34\u{00a0}56\u{00a0}78",
			"06\u{2013}12\u{2013}34\u{2013}56\u{2013}78", '٠٦١٢٣٤٥٦٧٨', 'tel:+212612345678', '0612345678 (mobile)', '612345678',
		);
		$out = array();
		foreach ( $cases as $c ) {
			$out[ $c ] = array( $c );
		}
		return $out;
	}

	/**
	 * @dataProvider moroccan_spellings
	 * @param string $input Spelling.
	 */
	public function test_moroccan_spellings_normalize_to_e164( $input ) {
		$this->assertSame( '+212612345678', Coex_Phone::normalize( $input ) );
	}

	public function test_other_moroccan_ranges_and_foreign_numbers() {
		$this->assertSame( '+212712345678', Coex_Phone::normalize( '07 12 34 56 78' ) );
		$this->assertSame( '+212522123456', Coex_Phone::normalize( '05 22 12 34 56' ) );
		$this->assertSame( '+33612345678', Coex_Phone::normalize( '+33 (0)6 12 34 56 78' ) );
		$this->assertSame( '+33612345678', Coex_Phone::normalize( '0033 6 12 34 56 78' ) );
		$this->assertSame( '+14155552671', Coex_Phone::normalize( '+1 415 555 2671' ) );
		$this->assertSame( '+14155552671', Coex_Phone::normalize( '14155552671' ) );
		$this->assertSame( '+33612345678', Coex_Phone::normalize( '0612345678', '33' ), 'national numbers follow the default country' );
	}

	public function test_rejects_what_is_not_a_phone_number() {
		foreach ( array( '', '   ', 'n/a', '12345', '+212 6 12', '0912345678', '+2126123456789', null, array(), 612345678.0 ) as $bad ) {
			$this->assertNull( Coex_Phone::normalize( $bad ), var_export( $bad, true ) );
		}
	}

	public function test_same_and_variants() {
		$this->assertTrue( Coex_Phone::same( '06.12.34.56.78', '+212 612-345-678' ) );
		$this->assertFalse( Coex_Phone::same( '0612345678', '0612345679' ) );
		$this->assertFalse( Coex_Phone::same( 'n/a', 'n/a' ), 'two unreadable numbers are not the same line' );
		$this->assertSame(
			array( '+212612345678', '212612345678', '00212612345678', '0612345678', '06 12 34 56 78' ),
			Coex_Phone::variants( '+212612345678' )
		);
	}
}
