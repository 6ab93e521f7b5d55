/**
 * A test PKI made with the openssl CLI (never with fedgate's own code), for certificate sign-in tests:
 *   root CA → issuing CA (the "NTAuth" CA fedgate trusts) → user certificates with whatever extensions a test
 *   needs (UPN SAN, SID extension, EKUs, key usage, validity, CDP, AIA/OCSP);
 *   a second, untrusted root → issuing CA pair; an `openssl ca` database per CA, so revocation, CRLs and an
 *   `openssl ocsp` responder are the real thing.
 * Served over HTTP from a local server (CRL distribution points) and by `openssl ocsp -port` (OCSP), both on
 * loopback, both stopped by close().
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { freePort } from './net.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const UPN_OID = '1.3.6.1.4.1.311.20.2.3';
export const SMARTCARD_LOGON = '1.3.6.1.4.1.311.20.2.2';

function openssl(args: string[], cwd: string, input?: string): string {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', input });
  if (r.status !== 0)
    throw new Error(`openssl ${args.slice(0, 3).join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export { freePort } from './net.ts';

/** openssl ca date: YYYYMMDDHHMMSSZ. */
export function caDate(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

export interface Ca {
  name: string;
  dir: string;
  certFile: string;
  keyFile: string;
  certPem: string;
  /** The PEM CRL file `crl()` last wrote. */
  crlFile: string;
  configFile: string;
}

export interface LeafOptions {
  /** openssl -subj, e.g. /CN=cert1 */
  subject?: string;
  upn?: string;
  email?: string;
  dns?: string;
  /** SID extension 1.3.6.1.4.1.311.25.2 value. */
  sid?: string;
  /** openssl extendedKeyUsage value; '' = no EKU extension. Default clientAuth + Smart Card Logon. */
  eku?: string;
  /** openssl keyUsage value; '' = no keyUsage extension. */
  keyUsage?: string;
  ca?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** CRL distribution point URIs (default: the HTTP CDP of the issuing CA). '' = none. */
  cdp?: string[];
  /** OCSP responder URI in AIA (default none). */
  ocsp?: string;
  /** Key size (default 2048). */
  bits?: number;
  /** Sign with the untrusted issuing CA instead. */
  issuer?: Ca;
  /** Extra raw openssl extension lines. */
  extra?: string[];
}

export interface Leaf {
  name: string;
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  der: Buffer;
  x509: X509Certificate;
}

export class TestPki {
  readonly dir: string;
  readonly root: Ca;
  readonly issuing: Ca;
  readonly otherRoot: Ca;
  readonly otherIssuing: Ca;
  /** Base URL of the CDP web server (CRL files under /crl/). */
  readonly cdpBase: string;
  readonly ocspUrl: string;
  /** Delegated OCSP signer issued by the issuing CA (id-kp-OCSPSigning). */
  readonly ocspSigner: Leaf;
  #http: Server;
  #ocsp: ChildProcess | undefined;
  readonly #ocspPort: number;
  /** Requests the CDP server answered, by path (cache tests). */
  readonly cdpHits = new Map<string, number>();

  private constructor(dir: string, cdpPort: number, ocspPort: number, http: Server) {
    this.dir = dir;
    this.cdpBase = `http://127.0.0.1:${cdpPort}`;
    this.#ocspPort = ocspPort;
    this.ocspUrl = `http://127.0.0.1:${ocspPort}/`;
    this.#http = http;
    this.root = this.#selfSignedCa('root', '/O=fedgate tests/CN=fedgate Test Root CA');
    this.issuing = this.#subCa(
      'issuing',
      '/DC=test/DC=example/DC=corp/CN=Corp Issuing CA',
      this.root,
    );
    this.otherRoot = this.#selfSignedCa('other-root', '/O=elsewhere/CN=Untrusted Root CA');
    // Same subject as our issuing CA on purpose: a look-alike must be told apart by its key.
    this.otherIssuing = this.#subCa(
      'other-issuing',
      '/DC=test/DC=example/DC=corp/CN=Corp Issuing CA',
      this.otherRoot,
    );
    this.crl(this.root);
    this.crl(this.issuing);
    this.crl(this.otherIssuing);
    this.ocspSigner = this.issue('ocsp-signer', {
      subject: '/CN=Corp OCSP Responder',
      eku: 'OCSPSigning',
      cdp: [],
      extra: ['1.3.6.1.5.5.7.48.1.5 = ASN1:NULL'],
    });
  }

  static async create(): Promise<TestPki> {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-pki-'));
    mkdirSync(join(dir, 'www', 'crl'), { recursive: true });
    const cdpPort = await freePort();
    const ocspPort = await freePort();
    const holder: { pki?: TestPki } = {};
    const http = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      holder.pki?.cdpHits.set(path, (holder.pki.cdpHits.get(path) ?? 0) + 1);
      const m = /^\/crl\/([a-z0-9-]+\.crl)$/.exec(path);
      const file = m === null ? undefined : join(dir, 'www', 'crl', m[1] ?? '');
      if (file === undefined || !existsSync(file)) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader('content-type', 'application/pkix-crl');
      res.end(readFileSync(file));
    });
    await new Promise<void>((ok) => http.listen(cdpPort, '127.0.0.1', ok));
    const pki = new TestPki(dir, cdpPort, ocspPort, http);
    holder.pki = pki;
    return pki;
  }

  #caConfig(name: string, dir: string): string {
    const cfg = join(dir, 'ca.cnf');
    writeFileSync(
      cfg,
      [
        '[ca]',
        'default_ca = CA_default',
        '[CA_default]',
        `dir = ${dir}`,
        'database = $dir/index.txt',
        'new_certs_dir = $dir/newcerts',
        'certificate = $dir/ca.pem',
        'private_key = $dir/ca.key',
        'serial = $dir/serial',
        'crlnumber = $dir/crlnumber',
        'default_md = sha256',
        'default_days = 365',
        'default_crl_days = 7',
        'policy = policy_any',
        'unique_subject = no',
        'copy_extensions = none',
        'email_in_dn = no',
        'preserve = yes',
        '[policy_any]',
        'domainComponent = optional',
        'organizationName = optional',
        'commonName = optional',
        '[crl_ext]',
        'authorityKeyIdentifier = keyid:always',
        '[req]',
        'distinguished_name = dn',
        '[dn]',
        '',
      ].join('\n'),
    );
    mkdirSync(join(dir, 'newcerts'), { recursive: true });
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'index.txt.attr'), 'unique_subject = no\n');
    writeFileSync(
      join(dir, 'serial'),
      `${name === 'root' ? '1000' : '2A0000000000000011AC0000000012'}\n`,
    );
    writeFileSync(join(dir, 'crlnumber'), '01\n');
    return cfg;
  }

  #selfSignedCa(name: string, subj: string): Ca {
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    const configFile = this.#caConfig(name, dir);
    writeFileSync(
      join(dir, 'ext.cnf'),
      [
        '[v3]',
        'basicConstraints = critical,CA:TRUE',
        'keyUsage = critical,keyCertSign,cRLSign',
        'subjectKeyIdentifier = hash',
        '',
      ].join('\n'),
    );
    openssl(
      ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'ca.key'],
      dir,
    );
    openssl(
      ['req', '-new', '-key', 'ca.key', '-subj', subj, '-out', 'ca.csr', '-config', configFile],
      dir,
    );
    openssl(
      [
        'ca',
        '-batch',
        '-config',
        configFile,
        '-selfsign',
        '-keyfile',
        'ca.key',
        '-in',
        'ca.csr',
        '-out',
        'ca.pem',
        '-notext',
        '-extfile',
        'ext.cnf',
        '-extensions',
        'v3',
        '-startdate',
        caDate(new Date(Date.now() - 30 * 86_400_000)),
        '-enddate',
        caDate(new Date(Date.now() + 3650 * 86_400_000)),
      ],
      dir,
    );
    return this.#ca(name, dir, configFile);
  }

  #subCa(name: string, subj: string, parent: Ca): Ca {
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    const configFile = this.#caConfig(name, dir);
    writeFileSync(
      join(dir, 'ext.cnf'),
      [
        '[v3]',
        'basicConstraints = critical,CA:TRUE,pathlen:0',
        'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid',
        `crlDistributionPoints = URI:${this.cdpBase}/crl/${parent.name}.crl`,
        '',
      ].join('\n'),
    );
    openssl(
      ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'ca.key'],
      dir,
    );
    openssl(
      ['req', '-new', '-key', 'ca.key', '-subj', subj, '-out', 'ca.csr', '-config', configFile],
      dir,
    );
    openssl(
      [
        'ca',
        '-batch',
        '-config',
        parent.configFile,
        '-in',
        join(dir, 'ca.csr'),
        '-out',
        join(dir, 'ca.pem'),
        '-notext',
        '-extfile',
        join(dir, 'ext.cnf'),
        '-extensions',
        'v3',
        '-startdate',
        caDate(new Date(Date.now() - 30 * 86_400_000)),
        '-enddate',
        caDate(new Date(Date.now() + 3000 * 86_400_000)),
      ],
      dir,
    );
    return this.#ca(name, dir, configFile);
  }

  #ca(name: string, dir: string, configFile: string): Ca {
    return {
      name,
      dir,
      certFile: join(dir, 'ca.pem'),
      keyFile: join(dir, 'ca.key'),
      certPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
      crlFile: join(dir, 'crl.pem'),
      configFile,
    };
  }

  /** Issues a user (or other) certificate from the issuing CA (or `opts.issuer`). */
  issue(name: string, opts: LeafOptions = {}): Leaf {
    const ca = opts.issuer ?? this.issuing;
    const dir = join(this.dir, 'leaves');
    mkdirSync(dir, { recursive: true });
    const keyFile = join(dir, `${name}.key`);
    const certFile = join(dir, `${name}.pem`);
    const lines = ['[ext]'];
    lines.push(
      opts.ca === true
        ? 'basicConstraints = critical,CA:TRUE'
        : 'basicConstraints = critical,CA:FALSE',
    );
    const ku = opts.keyUsage ?? 'critical,digitalSignature,keyEncipherment';
    if (ku !== '') lines.push(`keyUsage = ${ku}`);
    const eku = opts.eku ?? `clientAuth,${SMARTCARD_LOGON}`;
    if (eku !== '') lines.push(`extendedKeyUsage = ${eku}`);
    const san: string[] = [];
    if (opts.upn !== undefined) san.push(`otherName:${UPN_OID};UTF8:${opts.upn}`);
    if (opts.email !== undefined) san.push(`email:${opts.email}`);
    if (opts.dns !== undefined) san.push(`DNS:${opts.dns}`);
    if (san.length > 0) lines.push(`subjectAltName = ${san.join(',')}`);
    lines.push('subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid');
    const cdp = opts.cdp ?? [`${this.cdpBase}/crl/${ca.name}.crl`];
    if (cdp.length > 0)
      lines.push(`crlDistributionPoints = ${cdp.map((u) => `URI:${u}`).join(',')}`);
    if (opts.ocsp !== undefined) lines.push(`authorityInfoAccess = OCSP;URI:${opts.ocsp}`);
    if (opts.sid !== undefined) lines.push('1.3.6.1.4.1.311.25.2 = ASN1:SEQUENCE:sid_ext');
    lines.push(...(opts.extra ?? []));
    if (opts.sid !== undefined)
      lines.push(
        '[sid_ext]',
        'name = IMPLICIT:0,SEQUENCE:sid_other',
        '[sid_other]',
        'type = OID:1.3.6.1.4.1.311.25.2.1',
        `value = EXPLICIT:0,OCTETSTRING:${opts.sid}`,
      );
    const extFile = join(dir, `${name}.ext`);
    writeFileSync(extFile, `${lines.join('\n')}\n`);
    openssl(
      [
        'genpkey',
        '-algorithm',
        'RSA',
        '-pkeyopt',
        `rsa_keygen_bits:${opts.bits ?? 2048}`,
        '-out',
        keyFile,
      ],
      dir,
    );
    openssl(
      [
        'req',
        '-new',
        '-key',
        keyFile,
        '-subj',
        opts.subject ?? `/CN=${name}`,
        '-out',
        join(dir, `${name}.csr`),
        '-config',
        ca.configFile,
      ],
      dir,
    );
    openssl(
      [
        'ca',
        '-batch',
        '-config',
        ca.configFile,
        '-in',
        join(dir, `${name}.csr`),
        '-out',
        certFile,
        '-notext',
        '-extfile',
        extFile,
        '-extensions',
        'ext',
        '-startdate',
        caDate(opts.notBefore ?? new Date(Date.now() - 86_400_000)),
        '-enddate',
        caDate(opts.notAfter ?? new Date(Date.now() + 365 * 86_400_000)),
      ],
      dir,
    );
    const certPem = readFileSync(certFile, 'utf8');
    const x509 = new X509Certificate(certPem);
    return {
      name,
      certFile,
      keyFile,
      certPem,
      keyPem: readFileSync(keyFile, 'utf8'),
      der: x509.raw,
      x509,
    };
  }

  revoke(leaf: Leaf, reason = 'keyCompromise', ca: Ca = this.issuing): void {
    openssl(
      ['ca', '-batch', '-config', ca.configFile, '-revoke', leaf.certFile, '-crl_reason', reason],
      ca.dir,
    );
  }

  /** Writes a fresh CRL for `ca` (PEM at ca.crlFile, DER for the CDP server); returns the PEM path. */
  crl(ca: Ca, opts: { hours?: number } = {}): string {
    openssl(
      [
        'ca',
        '-batch',
        '-config',
        ca.configFile,
        '-gencrl',
        '-crlexts',
        'crl_ext',
        '-crlhours',
        String(opts.hours ?? 7 * 24),
        '-out',
        ca.crlFile,
      ],
      ca.dir,
    );
    openssl(
      [
        'crl',
        '-in',
        ca.crlFile,
        '-outform',
        'DER',
        '-out',
        join(this.dir, 'www', 'crl', `${ca.name}.crl`),
      ],
      ca.dir,
    );
    return ca.crlFile;
  }

  /** file: URL of a CA's DER CRL (for file: CDP tests). */
  fileCdp(ca: Ca): string {
    return pathToFileURL(join(this.dir, 'www', 'crl', `${ca.name}.crl`)).href;
  }

  /** Removes a CA's CRL from the CDP server (unreachable CDP). */
  withdrawCrl(ca: Ca): void {
    rmSync(join(this.dir, 'www', 'crl', `${ca.name}.crl`), { force: true });
  }

  /** Starts (or restarts, re-reading the CA database) `openssl ocsp` for the issuing CA, delegated signer. */
  async startOcsp(): Promise<void> {
    await this.stopOcsp();
    const proc = spawn(
      'openssl',
      [
        'ocsp',
        '-port',
        String(this.#ocspPort),
        '-index',
        join(this.issuing.dir, 'index.txt'),
        '-CA',
        this.issuing.certFile,
        '-rsigner',
        this.ocspSigner.certFile,
        '-rkey',
        this.ocspSigner.keyFile,
        '-nmin',
        '60',
      ],
      { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#ocsp = proc;
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (err += d.toString('utf8')));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    // Ready once openssl says it accepts on the port ("ACCEPT [::]:port"). Probing by binding the port ourselves
    // raced openssl's own bind ("Address already in use"), and a probe connection stalls its one-at-a-time loop.
    for (let i = 0; i < 200; i++) {
      if (err.includes('ACCEPT')) return;
      if (proc.exitCode !== null) throw new Error(`openssl ocsp exited: ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`openssl ocsp did not start: ${err}`);
  }

  async stopOcsp(): Promise<void> {
    const p = this.#ocsp;
    this.#ocsp = undefined;
    if (p === undefined || p.exitCode !== null) return;
    const exited = new Promise((ok) => p.once('exit', ok));
    p.kill('SIGTERM');
    await exited;
  }

  async close(): Promise<void> {
    await this.stopOcsp();
    await new Promise<void>((ok) => {
      this.#http.close(() => {
        ok();
      });
      this.#http.closeAllConnections();
    });
  }
}

/**
 * A throw-away self-signed RSA-2048 certificate and its key, made by the openssl CLI (never fedgate's code), as
 * `<name>.crt` and `<name>.key` in `dir`: a client's private_key_jwt credential, or a key fedgate does not know.
 */
export function opensslSelfSigned(
  dir: string,
  name: string,
  commonName: string,
  days = 2,
): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      String(days),
      '-subj',
      `/CN=${commonName}`,
    ].concat(['-keyout', keyFile, '-out', certFile]),
    { stdio: 'pipe' },
  );
  return { certFile, keyFile };
}
