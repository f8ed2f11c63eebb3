<?php
/**
 * Coex_Signer and the extension client's signed requests, against the fixed vectors in
 * fixtures/signing-vectors.json (the vitest JS reference checks the same file).
 *
 * @package CoexWhatsApp
 */

use PHPUnit\Framework\TestCase;

final class SignerTest extends TestCase {

	protected function setUp(): void {
		Coex_Test_WP::reset();
	}

	/** @return array<int,array<string,string>> */
	private static function vectors() {
		$json = json_decode( (string) file_get_contents( __DIR__ . '/fixtures/signing-vectors.json' ), true );
		return $json['vectors'];
	}

	public function test_fixed_vectors() {
		foreach ( self::vectors() as $v ) {
			$this->assertSame( $v['signature'], Coex_Signer::signature( $v['key'], $v['method'], $v['path'], $v['timestamp'], $v['nonce'], $v['body'] ) );
		}
	}

	public function test_headers_sign_the_path_and_query_as_sent() {
		$v = self::vectors()[1];
		$h = Coex_Signer::headers( 'https://shop.example.ma', $v['key'], 'get', 'https://coex.example.com' . $v['path'], '', $v['timestamp'], $v['nonce'] );
		$this->assertSame(
			array(
				'X-Coex-Account'   => 'https://shop.example.ma',
				'X-Coex-Timestamp' => $v['timestamp'],
				'X-Coex-Nonce'     => $v['nonce'],
				'X-Coex-Signature' => $v['signature'],
			),
			$h
		);
		$this->assertSame( '/base/ext/v1/x?a=1', Coex_Signer::path_with_query( 'https://h.example/base/ext/v1/x?a=1' ) );
		$this->assertSame( '/', Coex_Signer::path_with_query( 'https://h.example' ) );
	}

	public function test_fresh_timestamp_and_nonce_per_request() {
		$a = Coex_Signer::headers( 'acct', 'k', 'GET', 'https://h.example/x', '' );
		$b = Coex_Signer::headers( 'acct', 'k', 'GET', 'https://h.example/x', '' );
		$this->assertMatchesRegularExpression( '/^[0-9a-f]{32}$/', $a['X-Coex-Nonce'] );
		$this->assertNotSame( $a['X-Coex-Nonce'], $b['X-Coex-Nonce'] );
		$this->assertEqualsWithDelta( microtime( true ) * 1000, (int) $a['X-Coex-Timestamp'], 60000, 'milliseconds, not seconds' );
	}

	public function test_client_sends_the_exact_signed_bytes() {
		$v      = self::vectors()[0];
		$client = new Coex_Extension_Client( 'https://coex.example.com/', $v['key'], 'https://shop.example.ma' );
		Coex_Test_WP::$http_queue[] = array(
			'response' => array( 'code' => 201 ),
			'body'     => '{"message":{"id":"m1"}}',
		);
		$result = $client->send_message( 'thr_42', json_decode( $v['body'], true ) );
		$this->assertSame( array( 'message' => array( 'id' => 'm1' ) ), $result );

		$sent = Coex_Test_WP::$http_log[0];
		$this->assertSame( 'https://coex.example.com' . $v['path'], $sent['url'] );
		$this->assertSame( 'POST', $sent['args']['method'] );
		$this->assertSame( $v['body'], $sent['args']['body'], 'compact UTF-8 JSON, as JSON.stringify writes it' );
		$this->assertSame( 10, $sent['args']['timeout'] );
		$h = $sent['args']['headers'];
		$this->assertSame( 'https://shop.example.ma', $h['X-Coex-Account'] );
		$this->assertSame( 'application/json', $h['Content-Type'] );
		$this->assertSame( Coex_Signer::signature( $v['key'], 'POST', $v['path'], $h['X-Coex-Timestamp'], $h['X-Coex-Nonce'], $v['body'] ), $h['X-Coex-Signature'] );
	}
}
