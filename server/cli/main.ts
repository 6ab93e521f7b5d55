#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { installFatalHandlers, installSignalHandlers, startServer } from '../main.ts';
import { systemClock } from '../lib/clock.ts';
import { claimsTest, ClaimsTestError } from './claims.ts';
import { checkConfiguration } from './config-check.ts';
import { DoctorUsageError, runDoctor } from './doctor.ts';
import { LockoutCliError, lockoutReset, lockoutShow } from './lockout.ts';
import { MfaCliError, mfaEnrolCode, mfaReset, mfaShow } from './mfa.ts';
import { rpAdd, RpError, rpList, rpRemove } from './rp.ts';
import { APP_USAGE, isAppCommand, runAppCli } from './app.ts';
import {
  KeysCliError,
  keysExportPublic,
  keysImport,
  keysList,
  keysPromote,
  keysRollover,
  tenantKeys,
  type KeysCliOutput,
} from './keys.ts';
import {
  DEFAULT_TENANT_MFA,
  TenantJsonError,
  compareTenant,
  readTenantJson,
  renderTenantComparison,
  tenantFederation,
  tenantInstructions,
  tenantMfaMode,
  tenantSamlFederation,
  tenantSamlInstructions,
} from './tenant.ts';
import { ROUTES } from '../http/routes.ts';
import {
  ThemeCliError,
  themeCheck,
  themeExport,
  themeImport,
  themeList,
  themeUse,
  type ThemeCliOutput,
} from './theme.ts';

const USAGE = `fedgate: a federation identity provider for Microsoft 365 and SAML/WS-Fed applications

Usage:
  fedgate serve  [--config FILE]                    run the server (no file: embedded defaults)
  fedgate --version                                 print the version
  fedgate tenant --domain DOMAIN [--protocol wsfed|saml] [--mfa accept|enforce|reject]
                 [--current-tenant-json FILE] [--config FILE] [--json]
                                                    print what the tenant admin runs to federate DOMAIN
                                                    (WS-Federation, or SAML 2.0 with --protocol saml);
                                                    --mfa sets federatedIdpMfaBehavior (default accept,
                                                    see docs/mfa.md); with a next signing key, its
                                                    nextSigningCertificate and the lines for now and
                                                    after promotion; --current-tenant-json FILE (saved
                                                    from Get-MgDomainFederationConfiguration -DomainId
                                                    DOMAIN | ConvertTo-Json) says whether the tenant
                                                    already has the current and next certificates and
                                                    whether its other settings match
  fedgate check  [--config FILE]                    validate the configuration and exit
  fedgate doctor [--config FILE] [--csv FILE] [--html FILE] [--json] [--fix-ldif FILE]
                 [--public-url URL [--public-ca FILE]] [--base DN] [--page-size N] [--no-color]
                                                    before federating a domain: IdFix's checks over the
                                                    users and groups under directory.baseDn, federation
                                                    checks (UPN suffixes, source anchor, ambiguous UPNs),
                                                    and the plumbing (each DC, AD's lockout and password
                                                    policy against fedgate's, certificates, the store,
                                                    --public-url); --fix-ldif writes proposed fixes and an
                                                    undo LDIF to review (fedgate never writes to AD).
                                                    Exit 1 when errors are found (docs/doctor.md)
  fedgate claims test --rp ID --user NAME [--ip ADDR] [--method password|windows|tlsclient|x509|URI]
                 [--user-agent TEXT] [--config FILE]
                                                    run a relying party's claim rules for a user (no
                                                    password): input claims, each rule, output, assertion

  fedgate rp add --metadata FILE|URL [--name NAME] [--config FILE]
                                                    add a SAML 2.0 service provider from its metadata
  fedgate rp list [--config FILE]                   list SAML 2.0 trusts
  fedgate rp remove ENTITYID [--config FILE]        remove a SAML 2.0 trust

  Application groups (OpenID Connect / OAuth clients and Web APIs, docs/applications.md):
${APP_USAGE}

  fedgate lockout show USER [--config FILE] [--json]
                                                    smart-lockout state of a user (any name form: sam,
                                                    DOMAIN\\sam, UPN): counters, last failures, familiar
                                                    locations, locked-until (needs the Redis store)
  fedgate lockout reset USER [--forget-locations] [--config FILE] [--json]
                                                    clear the user's bad-password counters (audited)

  fedgate mfa show USER [--config FILE] [--json]    a user's second factors (kind, id, name, created,
                                                    last used; never secrets) and any pending enrolment code
  fedgate mfa reset USER [--config FILE] [--json]   remove every factor and any pending enrolment code
  fedgate mfa enrol-code USER [--config FILE] [--json]
                                                    print a one-time enrolment code for USER (valid
                                                    mfa.enrolment.codeLifetimeHours); each mfa command is
                                                    audited (mfa_enrolment, on standard error)

  fedgate keys list [--config FILE] [--json]        the token-signing keys (primary, next, previous):
                                                    thumbprint, validity, custody, dates; the rollover
                                                    schedule, what is due now, whether the servers roll
                                                    over themselves (never generates anything)
  fedgate keys rollover --if-due|--now [--config FILE] [--json]
                                                    --if-due: apply what the schedule says is due (safe
                                                    from cron on every node: one change farm-wide);
                                                    --now: generate a next key at once. Exit 3 when
                                                    another node holds the rollover lock (busy)
  fedgate keys promote [--config FILE] [--json]     the next key becomes the primary now
  fedgate keys import --pfx FILE (--password-env NAME | --password-file FILE) [--as next|primary]
  fedgate keys import --cert FILE --key FILE [--password-env NAME | --password-file FILE] [--as next|primary]
  fedgate keys import --pkcs11-label LABEL --cert FILE [--as next|primary]
                                                    add a key (AD FS's PFX from Export-PfxCertificate, a
                                                    PEM pair, or a key already in the HSM); the password
                                                    never as an argument; on any error nothing is written
  fedgate keys export-public [--which primary|next|all] [--format pem|base64] [--out FILE [--force]]
                                                    the public certificates (never a key)
                                                    Every keys change is audited (key_rollover, on
                                                    standard error)

  fedgate theme export DIR [--force]                write the shipped theme to DIR, ready to edit
  fedgate theme import [--adfs-theme DIR] [--web-content FILE] --out DIR [--force]
                                                    an Export-AdfsWebTheme folder and/or the JSON of
                                                    Get-AdfsGlobalWebContent | ConvertTo-Json into a theme
                                                    folder and the branding.webContent YAML
  fedgate theme list [--themes-dir DIR] [--config FILE]
                                                    the themes found, their warnings, the active one
  fedgate theme check DIR                           check a theme folder (files, types, sizes, contrast)
  fedgate theme use NAME [--themes-dir DIR] [--config FILE]
                                                    switch every node to theme NAME without a restart
                                                    (needs the Redis store)

The configuration file may also be given with FEDGATE_CONFIG; every key can be overridden with
FEDGATE_<PATH> environment variables (see docs/configuration.md).`;

function configFrom(file: string | undefined): Config {
  return loadConfig({ file });
}

async function serve(file: string | undefined): Promise<void> {
  const config = configFrom(file);
  const running = await startServer(config);
  const { services } = running;
  const base = config.publicUrl;
  const testRp = config.testRelyingParty
    ? 'urn%3Afedgate%3Atest'
    : 'urn%3Afederation%3AMicrosoftOnline';
  const out = [
    '',
    `fedgate is listening on ${running.scheme}://${config.listen.host}:${running.port} (public URL ${base})`,
    `  Federation metadata  ${base}${ROUTES.metadata}`,
    `  Test sign-in         ${base}${ROUTES.passive}/?wa=wsignin1.0&wtrealm=${testRp}`,
    `  Probe                ${base}${ROUTES.probe}`,
    `  Issuer URI           ${config.issuerUri}`,
    `  Signing certificate  ${services.signing.subject} (thumbprint ${services.signing.thumbprintSha1})`,
  ];
  if (services.certificates !== undefined) {
    const where = [
      running.certificate === undefined ? undefined : `port ${running.certificate.port}`,
      config.certificateAuth.sniHostname === undefined
        ? undefined
        : `${config.certificateAuth.sniHostname} (SNI)`,
      config.certificateAuth.proxy === undefined
        ? undefined
        : `${config.certificateAuth.proxy.header} header from trusted proxies`,
    ].filter((x) => x !== undefined);
    out.push(
      `  Certificate sign-in  ${config.certificateAuth.publicUrl} (${where.join(', ')}; revocation ${config.certificateAuth.revocation.mode})`,
    );
  }
  if (config.directory.kind === 'embedded' && config.directory.file === undefined) {
    out.push(
      '  Demo users           alice@fedgate.test / Passw0rd!  (also bob; carol is disabled, dave has an expired password)',
    );
  }
  if (config.embeddedDefaults) {
    out.push(
      '',
      'WARNING: running on embedded defaults: a self-signed certificate, a generated signing key in keys/, an in-memory',
      'store and a demo directory. This is for trying fedgate out, not for production: write a configuration file',
      '(docs/configuration.md) and start with --config.',
    );
  }
  process.stdout.write(`${out.join('\n')}\n\n`);

  // SIGTERM (and SIGINT behind a load balancer): drain (probes 503), finish in-flight, close Redis/LDAP, flush the
  // log buffer, exit; embedded defaults and a terminal's Ctrl-C skip the drain; a second signal exits at once.
  installSignalHandlers(running);
  // A crash still writes its reason and the buffered log lines before exit 1.
  installFatalHandlers(services);
}

async function tenant(
  file: string | undefined,
  domain: string | undefined,
  json: boolean,
  protocol = 'wsfed',
  mfaFlag?: string,
  currentTenantJson?: string,
): Promise<void> {
  if (domain === undefined || domain === '')
    throw new UsageError('tenant needs --domain DOMAIN (the custom domain to federate)');
  const p = protocol.toLowerCase();
  if (p !== 'wsfed' && p !== 'saml')
    throw new UsageError(`tenant --protocol is wsfed or saml, not "${protocol}"`);
  const mfa = mfaFlag === undefined ? DEFAULT_TENANT_MFA : tenantMfaMode(mfaFlag);
  if (mfa === undefined)
    throw new UsageError(`tenant --mfa is accept, enforce or reject, not "${mfaFlag ?? ''}"`);
  const config = configFrom(file);
  // The tenant file is read (and refused when it is not one) before any key is read or generated.
  const current =
    currentTenantJson === undefined ? undefined : await readTenantJson(currentTenantJson);
  const { primary, next } = await tenantKeys(config, { operator: operatorName() });
  const body =
    p === 'saml'
      ? tenantSamlFederation(config, primary, domain, mfa, next?.certificate)
      : tenantFederation(config, primary, domain, mfa, next?.certificate);
  if (current !== undefined && currentTenantJson !== undefined) {
    const c = compareTenant(current, body, primary, next?.certificate);
    process.stdout.write(
      json
        ? `${JSON.stringify(c, null, 2)}\n`
        : renderTenantComparison(c, domain, currentTenantJson, primary, next),
    );
    return;
  }
  process.stdout.write(
    json
      ? `${JSON.stringify(body, null, 2)}\n`
      : p === 'saml'
        ? tenantSamlInstructions(domain, config, primary, mfa, next)
        : tenantInstructions(domain, config, primary, mfa, next),
  );
}

class UsageError extends Error {}

/** The OS account running the CLI (recorded in the lockout_reset and mfa_enrolment audit events). */
function operatorName(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/**
 * fedgate's version from its package.json: the nearest one up from this file, whether it runs from server/ (tsx),
 * dist/server/ (npm start) or /opt/fedgate/dist/server/ (the container image).
 */
export function fedgateVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'fedgate' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* not here: one level up */
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version') {
    process.stdout.write(`fedgate ${fedgateVersion()}\n`);
    return;
  }
  if (isAppCommand(argv)) {
    const r = runAppCli(argv);
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    process.exitCode = r.code;
    return;
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      domain: { type: 'string' },
      protocol: { type: 'string' },
      mfa: { type: 'string' },
      json: { type: 'boolean', default: false },
      rp: { type: 'string' },
      user: { type: 'string' },
      ip: { type: 'string' },
      method: { type: 'string' },
      'user-agent': { type: 'string' },
      metadata: { type: 'string' },
      name: { type: 'string' },
      'forget-locations': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      out: { type: 'string' },
      'adfs-theme': { type: 'string' },
      'web-content': { type: 'string' },
      'themes-dir': { type: 'string' },
      'current-tenant-json': { type: 'string' },
      'if-due': { type: 'boolean', default: false },
      now: { type: 'boolean', default: false },
      pfx: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'pkcs11-label': { type: 'string' },
      'password-env': { type: 'string' },
      'password-file': { type: 'string' },
      as: { type: 'string' },
      which: { type: 'string' },
      format: { type: 'string' },
      csv: { type: 'string' },
      html: { type: 'string' },
      'fix-ldif': { type: 'string' },
      'public-url': { type: 'string' },
      'public-ca': { type: 'string' },
      base: { type: 'string' },
      'page-size': { type: 'string' },
      'no-color': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const cmd = positionals[0];
  if (values.help || cmd === undefined || cmd === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  switch (cmd) {
    case 'serve':
      await serve(values.config);
      return;
    case 'tenant':
      try {
        await tenant(
          values.config,
          values.domain,
          values.json,
          values.protocol,
          values.mfa,
          values['current-tenant-json'],
        );
      } catch (err) {
        if (!(err instanceof KeysCliError) && !(err instanceof TenantJsonError)) throw err;
        process.stderr.write(`fedgate: ${err.message}\n`);
        process.exitCode = 2;
      }
      return;
    case 'check': {
      const c = configFrom(values.config);
      const r = await checkConfiguration(c);
      // Broken files and references fail like schema problems (exit 2).
      if (r.problems.length > 0)
        throw new ConfigError(values.config ?? 'embedded defaults', r.problems);
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write(
        `configuration OK: hostname ${c.hostname}, issuer ${c.issuerUri}, directory ${c.directory.kind}, store ${c.store.kind}, ${r.ruleFiles} claim rule files\n`,
      );
      return;
    }
    case 'doctor': {
      const pageSize = values['page-size'];
      if (pageSize !== undefined && !/^[1-9][0-9]{0,5}$/.test(pageSize))
        throw new UsageError('doctor --page-size is a whole number from 1 to 999999');
      try {
        const out = await runDoctor(configFrom(values.config), {
          clock: systemClock,
          configFile: values.config ?? 'embedded defaults',
          version: fedgateVersion(),
          json: values.json,
          csv: values.csv,
          html: values.html,
          fixLdif: values['fix-ldif'],
          publicUrl: values['public-url'],
          publicCa: values['public-ca'],
          base: values.base,
          pageSize: pageSize === undefined ? undefined : Number(pageSize),
          color: !values['no-color'] && process.stdout.isTTY,
        });
        process.stderr.write(out.stderr);
        process.stdout.write(out.stdout);
        process.exitCode = out.code;
      } catch (err) {
        if (!(err instanceof DoctorUsageError)) throw err;
        process.stderr.write(`fedgate: ${err.message}\n`);
        process.exitCode = 2;
      }
      return;
    }
    case 'claims': {
      if (positionals[1] !== 'test') throw new UsageError('claims needs a subcommand: claims test');
      if (values.rp === undefined || values.user === undefined)
        throw new UsageError('claims test needs --rp ID and --user NAME');
      try {
        process.stdout.write(
          await claimsTest(configFrom(values.config), {
            rp: values.rp,
            user: values.user,
            ip: values.ip,
            method: values.method,
            userAgent: values['user-agent'],
          }),
        );
      } catch (err) {
        if (err instanceof ClaimsTestError) throw new Error(err.message, { cause: err });
        throw err;
      }
      return;
    }
    case 'rp': {
      const sub = positionals[1];
      try {
        if (sub === 'add') {
          if (values.metadata === undefined)
            throw new UsageError('rp add needs --metadata FILE|URL');
          process.stdout.write(
            await rpAdd(configFrom(values.config), {
              metadata: values.metadata,
              name: values.name,
            }),
          );
        } else if (sub === 'list') {
          process.stdout.write(rpList(configFrom(values.config)));
        } else if (sub === 'remove') {
          const which = positionals[2];
          if (which === undefined) throw new UsageError('rp remove needs an entity ID');
          process.stdout.write(rpRemove(configFrom(values.config), which));
        } else {
          throw new UsageError('rp needs a subcommand: rp add | rp list | rp remove');
        }
      } catch (err) {
        if (err instanceof RpError) throw new Error(err.message, { cause: err });
        throw err;
      }
      return;
    }
    case 'lockout': {
      const sub = positionals[1];
      const who = positionals[2];
      if ((sub !== 'show' && sub !== 'reset') || who === undefined)
        throw new UsageError('lockout needs a subcommand and a user: lockout show|reset USER');
      const opts = {
        json: values.json,
        forgetLocations: values['forget-locations'],
        operator: operatorName(),
      };
      try {
        const config = configFrom(values.config);
        process.stdout.write(
          sub === 'show'
            ? await lockoutShow(config, who, opts)
            : await lockoutReset(config, who, opts),
        );
      } catch (err) {
        if (err instanceof LockoutCliError) throw new Error(err.message, { cause: err });
        throw err;
      }
      return;
    }
    case 'mfa': {
      const sub = positionals[1];
      const who = positionals[2];
      if ((sub !== 'show' && sub !== 'reset' && sub !== 'enrol-code') || who === undefined)
        throw new UsageError('mfa needs a subcommand and a user: mfa show|reset|enrol-code USER');
      const opts = { json: values.json, operator: operatorName() };
      const run = sub === 'show' ? mfaShow : sub === 'reset' ? mfaReset : mfaEnrolCode;
      try {
        process.stdout.write(await run(configFrom(values.config), who, opts));
      } catch (err) {
        if (err instanceof MfaCliError) throw new Error(err.message, { cause: err });
        throw err;
      }
      return;
    }
    case 'keys': {
      const sub = positionals[1];
      const ctx = () => ({
        config: configFrom(values.config),
        json: values.json,
        operator: operatorName(),
      });
      let out: KeysCliOutput;
      try {
        if (sub === 'list') out = await keysList(ctx());
        else if (sub === 'rollover')
          out = await keysRollover(ctx(), { ifDue: values['if-due'], now: values.now });
        else if (sub === 'promote') out = await keysPromote(ctx());
        else if (sub === 'import')
          out = await keysImport(ctx(), {
            pfx: values.pfx,
            cert: values.cert,
            key: values.key,
            pkcs11Label: values['pkcs11-label'],
            passwordEnv: values['password-env'],
            passwordFile: values['password-file'],
            as: values.as,
          });
        else if (sub === 'export-public')
          out = await keysExportPublic(ctx(), {
            which: values.which,
            format: values.format,
            out: values.out,
            force: values.force,
          });
        else
          throw new UsageError(
            'keys needs a subcommand: keys list|rollover|promote|import|export-public',
          );
      } catch (err) {
        if (!(err instanceof KeysCliError)) throw err;
        process.stderr.write(`fedgate: ${err.message}\n`);
        process.exitCode = err.exitCode;
        return;
      }
      process.stderr.write(out.stderr);
      process.stdout.write(out.stdout);
      return;
    }
    case 'theme': {
      const sub = positionals[1];
      const arg = positionals[2];
      const themesDir = values['themes-dir'];
      let out: ThemeCliOutput;
      try {
        if (sub === 'export') {
          if (arg === undefined)
            throw new UsageError('theme export needs a folder: theme export DIR');
          out = themeExport(arg, { force: values.force });
        } else if (sub === 'import') {
          out = themeImport({
            adfsTheme: values['adfs-theme'],
            webContent: values['web-content'],
            out: values.out,
            force: values.force,
          });
        } else if (sub === 'check') {
          if (arg === undefined)
            throw new UsageError('theme check needs a folder: theme check DIR');
          out = themeCheck(arg);
        } else if (sub === 'list') {
          out = await themeList(configFrom(values.config), { themesDir });
        } else if (sub === 'use') {
          if (arg === undefined)
            throw new UsageError('theme use needs a theme name: theme use NAME');
          out = await themeUse(configFrom(values.config), arg, { themesDir });
        } else {
          throw new UsageError('theme needs a subcommand: theme export|import|list|check|use');
        }
      } catch (err) {
        if (!(err instanceof ThemeCliError)) throw err;
        process.stderr.write(`fedgate: ${err.message}\n`);
        process.exitCode = err.exitCode;
        return;
      }
      process.stderr.write(out.stderr);
      process.stdout.write(out.stdout);
      return;
    }
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`fedgate: ${err.message}\n`);
    process.exit(2);
  }
  if (
    err instanceof UsageError ||
    (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
  ) {
    process.stderr.write(`fedgate: ${(err as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    process.stderr.write(`fedgate: the port is already in use (${(err as Error).message})\n`);
    process.exit(1);
  }
  process.stderr.write(`fedgate: ${(err as Error).message}\n`);
  process.exit(1);
});
