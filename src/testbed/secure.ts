/**
 * The test game's key exchange (--secure), the way many games do theirs: the server has a fixed
 * X25519 key (a test key, published here); after login the client makes an ephemeral key, derives
 * a secret shared with the server's public key, and sends a random 16-byte session key sealed
 * with it. From then on both directions are AES-128-CFB8 with the session key as key and IV (the
 * protocol description says so: a cipher layer on when `secure` holds). A sniffer sees the public
 * keys and the sealed key, never the session key: a key log gives it.
 */
import { createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { keyLogLine } from '../conversation/keylog';
import type { Endpoint } from '../core/types';

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

/** The server's static key: fixed (not from the game's seed), so a replayed key exchange gives the recorded session key. */
export function serverKey(): { privateKey: KeyObject; publicRaw: Buffer } {
  const seed = createHash('sha256').update('gamesniff testgame server key (a published test key)').digest();
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, seed]), format: 'der', type: 'pkcs8' });
  return { privateKey, publicRaw: rawPublic(createPublicKey(privateKey)) };
}

function rawPublic(k: KeyObject): Buffer {
  return (k.export({ format: 'der', type: 'spki' }) as Buffer).subarray(-32);
}

function publicFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new Error(`an X25519 public key is 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, raw]), format: 'der', type: 'spki' });
}

function seal(key: Buffer, shared: Buffer): Buffer {
  const kek = createHash('sha256').update(shared).update('testgame session key').digest().subarray(0, 16);
  return Buffer.from(key.map((b, i) => b ^ kek[i]!));
}

/** Client side: a fresh session key, and what to send for it. */
export function clientKeyExchange(serverPublic: Buffer): { sessionKey: Buffer; ephemeral: Buffer; sealed: Buffer } {
  const eph = generateKeyPairSync('x25519');
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: publicFromRaw(serverPublic) });
  const sessionKey = randomBytes(16);
  return { sessionKey, ephemeral: rawPublic(eph.publicKey), sealed: seal(sessionKey, shared) };
}

/** Server side: the session key the client sealed. */
export function openSessionKey(server: KeyObject, ephemeral: Buffer, sealed: Buffer): Buffer {
  if (sealed.length !== 16) throw new Error(`a sealed session key is 16 bytes, got ${sealed.length}`);
  return seal(sealed, diffieHellman({ privateKey: server, publicKey: publicFromRaw(ephemeral) }));
}

/** Append a connection's session key to a key log (synchronously: before the bytes it opens go out). */
export function logSessionKey(file: string | undefined, client: Endpoint, key: Buffer): void {
  if (file) appendFileSync(file, keyLogLine(client, 'session_key', key));
}
