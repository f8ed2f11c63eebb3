<?php
/**
 * Signing of the plugin's calls to the CoEx extension API.
 *
 * X-Coex-Signature = hex HMAC-SHA256(extension key,
 *   METHOD "\n" path-with-query "\n" timestamp-ms "\n" nonce "\n" raw body)
 * The path is the URL's path and query exactly as sent (so a server mounted under a sub-path
 * verifies what its proxy forwards). The body is the exact bytes sent ("" for GET).
 *
 * @package CoexWhatsApp
 */

defined( 'ABSPATH' ) || exit;

/**
 * HMAC request signer.
 */
final class Coex_Signer {

	/**
	 * The string that is signed.
	 *
	 * @param string $method          HTTP method.
	 * @param string $path_with_query Path and query as sent.
	 * @param string $timestamp_ms    Unix time in milliseconds.
	 * @param string $nonce           Random hex.
	 * @param string $body            Raw body.
	 * @return string
	 */
	public static function canonical( $method, $path_with_query, $timestamp_ms, $nonce, $body ) {
		return strtoupper( $method ) . "\n" . $path_with_query . "\n" . $timestamp_ms . "\n" . $nonce . "\n" . $body;
	}

	/**
	 * Hex HMAC-SHA256 of the canonical string.
	 *
	 * @param string $key             Extension key.
	 * @param string $method          HTTP method.
	 * @param string $path_with_query Path and query.
	 * @param string $timestamp_ms    Milliseconds.
	 * @param string $nonce           Nonce.
	 * @param string $body            Raw body.
	 * @return string
	 */
	public static function signature( $key, $method, $path_with_query, $timestamp_ms, $nonce, $body ) {
		return hash_hmac( 'sha256', self::canonical( $method, $path_with_query, $timestamp_ms, $nonce, $body ), $key );
	}

	/**
	 * Path and query of a URL, as the server will see them.
	 *
	 * @param string $url Absolute URL.
	 * @return string
	 */
	public static function path_with_query( $url ) {
		$parts = wp_parse_url( $url );
		$path  = isset( $parts['path'] ) && '' !== $parts['path'] ? $parts['path'] : '/';
		return isset( $parts['query'] ) && '' !== $parts['query'] ? $path . '?' . $parts['query'] : $path;
	}

	/**
	 * The four X-Coex-* headers for one request.
	 *
	 * @param string      $account      The site URL (CoEx's account id for this store).
	 * @param string      $key          Extension key.
	 * @param string      $method       HTTP method.
	 * @param string      $url          Absolute URL.
	 * @param string      $body         Raw body.
	 * @param string|null $timestamp_ms Fixed time for tests; now otherwise.
	 * @param string|null $nonce        Fixed nonce for tests; random otherwise.
	 * @return array<string,string>
	 */
	public static function headers( $account, $key, $method, $url, $body, $timestamp_ms = null, $nonce = null ) {
		$timestamp_ms = null !== $timestamp_ms ? (string) $timestamp_ms : (string) (int) floor( microtime( true ) * 1000 );
		$nonce        = null !== $nonce ? (string) $nonce : bin2hex( random_bytes( 16 ) );
		return array(
			'X-Coex-Account'   => $account,
			'X-Coex-Timestamp' => $timestamp_ms,
			'X-Coex-Nonce'     => $nonce,
			'X-Coex-Signature' => self::signature( $key, $method, self::path_with_query( $url ), $timestamp_ms, $nonce, $body ),
		);
	}
}
