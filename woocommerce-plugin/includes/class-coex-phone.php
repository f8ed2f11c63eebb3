<?php
/**
 * Phone normalization, kept in step with CoEx's connectors/src/phone.ts (libphonenumber) for the
 * spellings people type: 06…, 07…, +212 6…, 212 6…, 00212…, +212 (0)6…, with spaces, dots, dashes,
 * brackets, Arabic-Indic digits, "tel:" and trailing annotations. Everything is compared in E.164.
 *
 * Not libphonenumber: numbers are validated by length (and, for Morocco, by the national plan's
 * leading digit), not against each country's full numbering plan.
 *
 * @package CoexWhatsApp
 */

defined( 'ABSPATH' ) || exit;

/**
 * E.164 normalization.
 */
final class Coex_Phone {

	/**
	 * Calling codes whose numbers are written with a trunk "0" that disappears internationally
	 * (+212 (0)6… → +2126…). Italy (39) keeps its 0 and is deliberately absent.
	 */
	const TRUNK_ZERO_CODES = array( '212', '213', '216', '20', '33', '32', '31', '41', '43', '44', '49', '34', '351', '352', '90', '971', '966' );

	/** National significant number length by calling code, for bare national input without the trunk 0. */
	const NSN_LENGTH = array(
		'212' => 9,
		'33'  => 9,
	);

	/**
	 * Normalizes a free-text phone number to E.164, or null when it is not a plausible number.
	 *
	 * @param mixed  $input        Whatever was typed in a billing phone field.
	 * @param string $country_code Default country calling code for national numbers (Morocco: 212).
	 * @return string|null
	 */
	public static function normalize( $input, $country_code = '212' ) {
		if ( ! is_string( $input ) && ! is_int( $input ) ) {
			return null;
		}
		$s = trim( self::ascii_digits( (string) $input ) );
		if ( '' === $s ) {
			return null;
		}
		$s = preg_replace( '/^tel:/i', '', $s );
		// "+" may hide behind an opening bracket: "(+212) 6…", "+(212) 6…".
		$international = (bool) preg_match( '/^[\s(]*\+/', $s );
		$digits        = preg_replace( '/\D+/', '', $s );
		if ( '' === $digits ) {
			return null;
		}
		$country_code = preg_replace( '/\D+/', '', (string) $country_code );

		if ( ! $international && 0 === strpos( $digits, '00' ) ) {
			$digits        = substr( $digits, 2 );
			$international = true;
		}
		if ( ! $international ) {
			$nsn_length = isset( self::NSN_LENGTH[ $country_code ] ) ? self::NSN_LENGTH[ $country_code ] : null;
			if ( '0' === $digits[0] ) {
				$digits = $country_code . substr( $digits, 1 );
			} elseif ( null !== $nsn_length && strlen( $digits ) === $nsn_length ) {
				$digits = $country_code . $digits;
			} elseif ( strlen( $digits ) < 11 ) {
				// A short number without "+" or trunk 0 is ambiguous; a bare international one (a WhatsApp wa_id) has 11–15 digits.
				return null;
			}
		}
		foreach ( self::TRUNK_ZERO_CODES as $code ) {
			if ( 0 === strpos( $digits, $code . '0' ) ) {
				$digits = $code . substr( $digits, strlen( $code ) + 1 );
				break;
			}
		}
		if ( ! self::plausible( $digits ) ) {
			return null;
		}
		return '+' . $digits;
	}

	/**
	 * True when two free-text numbers denote the same line.
	 *
	 * @param mixed  $a            One number.
	 * @param mixed  $b            The other.
	 * @param string $country_code Default calling code.
	 * @return bool
	 */
	public static function same( $a, $b, $country_code = '212' ) {
		$na = self::normalize( $a, $country_code );
		return null !== $na && self::normalize( $b, $country_code ) === $na;
	}

	/**
	 * Spellings a billing phone field may hold exactly, for an indexed equality search before the
	 * normalized comparison: E.164, digits, 00…, national 0…, national grouped by pairs.
	 *
	 * @param string $e164 A normalized number.
	 * @return string[]
	 */
	public static function variants( $e164 ) {
		$digits   = ltrim( $e164, '+' );
		$variants = array( $e164, $digits, '00' . $digits );
		foreach ( self::TRUNK_ZERO_CODES as $code ) {
			if ( 0 === strpos( $digits, $code ) ) {
				$national   = '0' . substr( $digits, strlen( $code ) );
				$variants[] = $national;
				$variants[] = trim( implode( ' ', str_split( $national, 2 ) ) );
				break;
			}
		}
		return array_values( array_unique( $variants ) );
	}

	/**
	 * Length and, for Morocco, numbering-plan check of a number without "+".
	 *
	 * @param string $digits Country code + national number.
	 * @return bool
	 */
	private static function plausible( $digits ) {
		$length = strlen( $digits );
		if ( $length < 8 || $length > 15 || '0' === $digits[0] ) {
			return false;
		}
		if ( 0 === strpos( $digits, '212' ) ) {
			// Morocco: 9-digit national numbers, 5xx fixed, 6/7 mobile, 8 VoIP/shared.
			return (bool) preg_match( '/^212[5-8]\d{8}$/', $digits );
		}
		return true;
	}

	/**
	 * Arabic-Indic (U+0660–0669) and Extended Arabic-Indic (U+06F0–06F9) digits to ASCII.
	 *
	 * @param string $s Input.
	 * @return string
	 */
	private static function ascii_digits( $s ) {
		static $map = null;
		if ( null === $map ) {
			$map = array();
			for ( $i = 0; $i <= 9; $i++ ) {
				$map[ self::utf8( 0x0660 + $i ) ] = (string) $i;
				$map[ self::utf8( 0x06F0 + $i ) ] = (string) $i;
			}
		}
		return strtr( $s, $map );
	}

	/**
	 * UTF-8 encoding of a code point in the two-byte range (enough for Arabic digits).
	 *
	 * @param int $cp Code point.
	 * @return string
	 */
	private static function utf8( $cp ) {
		return chr( 0xC0 | ( $cp >> 6 ) ) . chr( 0x80 | ( $cp & 0x3F ) );
	}
}
