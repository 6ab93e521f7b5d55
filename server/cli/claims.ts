/**
 * `fedgate claims test`: runs a relying party's claim rules for a user without a sign-in (no password asked) and
 * shows every step: input claims, what each authorization and issuance rule did, the output claims, and the
 * SAML 1.1 assertion that would be issued (unsigned). Like Shibboleth's resolvertest, and what AD FS lacks.
 * Reads the directory and rule files exactly as the server would; writes nothing (no keys are generated).
 */
import { insideCorporateNetwork } from '../lib/ip.ts';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { ClaimsEngine, type ClaimsOutcome } from '../claims/engine.ts';
import { acceptanceRules } from '../claims/rule-sets.ts';
import type { EvaluationResult, RuleTrace } from '../claims/evaluator.ts';
import type { RequestContext } from '../claims/input-claims.ts';
import { AuthMethods, type Claim } from '../claims/types.ts';
import type { Config } from '../config/schema.ts';
import { createDirectory, uncached } from '../directory/index.ts';
import { systemClock } from '../lib/clock.ts';
import { toSaml11Model } from '../tokens/saml11-model.ts';
import { writeCanonicalSaml11Assertion } from '../tokens/index.ts';
import { trustRegistryFor } from '../services.ts';
import { ROUTES } from '../http/routes.ts';

export interface ClaimsTestOptions {
  rp: string;
  user: string;
  ip?: string | undefined;
  method?: string | undefined;
  userAgent?: string | undefined;
}

/** A problem the caller should print as is (exit status 1). */
export class ClaimsTestError extends Error {}

const METHODS: Record<string, string> = {
  password: AuthMethods.password,
  windows: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/windows',
  tlsclient: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient',
  x509: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/x509',
};

function claimLine(c: Claim): string {
  const props = Object.entries(c.properties ?? {})
    .map(([k, v]) => ` ${k.slice(k.lastIndexOf('/') + 1)}=${v}`)
    .join('');
  return `${c.type} = ${c.value}  [${c.issuer ?? ''}${props === '' ? '' : `;${props}`}]`;
}

function ruleLines(trace: RuleTrace): string[] {
  const head = `  ${String(trace.index).padStart(2)} ${trace.name === undefined ? '(no name)' : `"${trace.name}"`}  ${trace.verb}`;
  if (trace.firings === 0) return [`${head}: not fired (${trace.note ?? 'conditions not met'})`];
  const lines = [
    `${head}: fired ${trace.firings}×${trace.claims.length === 0 ? ` (${trace.note ?? 'no claims'})` : ''}`,
  ];
  const mark = trace.verb === 'issue' ? '+ issued' : '+ added ';
  for (const c of trace.claims) lines.push(`       ${mark} ${claimLine(c)}`);
  return lines;
}

function section(title: string, result: EvaluationResult): string[] {
  return [title, ...result.trace.flatMap(ruleLines)];
}

/** Runs the rules and renders the report. */
export async function claimsTest(config: Config, opts: ClaimsTestOptions): Promise<string> {
  const trusts = trustRegistryFor(config);
  const rp = trusts.find(opts.rp);
  if (rp === undefined) {
    throw new ClaimsTestError(
      `no relying party "${opts.rp}"; configured: ${trusts.parties.map((p) => p.identifier).join(', ')}`,
    );
  }
  const method = METHODS[opts.method ?? 'password'] ?? opts.method ?? AuthMethods.password;
  const directory = await createDirectory(uncached(config.directory), {
    logger: pino({ level: 'silent' }),
    clock: systemClock,
    baseDir: config.baseDir,
  });
  try {
    const user = await directory.findUser(opts.user);
    if (user === undefined) throw new ClaimsTestError(`no user "${opts.user}" in the directory`);
    const now = systemClock.now();
    const request: RequestContext = {
      clientIp: opts.ip ?? '127.0.0.1',
      userAgent: opts.userAgent ?? 'fedgate claims test',
      endpointPath: `${ROUTES.passive}/`,
      insideCorporateNetwork: insideCorporateNetwork(config, opts.ip ?? '127.0.0.1'),
    };
    const acceptance = acceptanceRules(config);
    const engine = new ClaimsEngine({ directory, clock: systemClock, acceptance });
    const outcome: ClaimsOutcome = await engine.run(
      rp.rules,
      { user, method, instant: now },
      request,
    );
    const out = [
      `Relying party  ${rp.name} (${rp.identifier})`,
      `User           ${user.windowsAccountName}${user.userPrincipalName === undefined ? '' : ` (${user.userPrincipalName})`}${user.enabled ? '' : ' DISABLED: a real sign-in would be refused'}`,
      `Method         ${method}`,
      '',
      `Input claims (${outcome.input.length}):`,
      ...outcome.input.map((c) => `  ${claimLine(c)}`),
      '',
      ...(outcome.acceptance === undefined || acceptance === undefined
        ? [
            'Acceptance transform rules (Active Directory claims provider): none configured, every claim passes through',
          ]
        : [
            ...section(
              `Acceptance transform rules (Active Directory claims provider, ${acceptance.source}):`,
              outcome.acceptance,
            ),
            '',
            `Accepted claims (${outcome.accepted.length}; request context claims always pass):`,
            ...outcome.accepted.map((c) => `  ${claimLine(c)}`),
          ]),
      '',
      ...section(
        `Issuance authorization rules (${rp.rules.authorization.source}):`,
        outcome.authorization,
      ),
    ];
    if (!outcome.permitted) {
      out.push(`  => ACCESS DENIED: ${outcome.reason}`, '');
      return `${out.join('\n')}\n`;
    }
    out.push(
      '  => permitted',
      '',
      ...section(`Issuance transform rules (${rp.rules.issuance.source}):`, outcome.issuance),
      '',
      `Output claims (${outcome.claims.length}):`,
      ...outcome.claims.map((c) => `  ${claimLine(c)}`),
      '',
    );
    let assertion: string;
    try {
      assertion = writeCanonicalSaml11Assertion(
        toSaml11Model({
          claims: outcome.claims,
          assertionId: `_${randomUUID()}`,
          issuer: config.issuerUri,
          audience: rp.identifier,
          now,
          lifetimeMinutes: rp.tokenLifetimeMinutes,
          authMethod: method,
          authInstant: now,
        }),
      );
    } catch (err) {
      assertion = `(no assertion: ${(err as Error).message})`;
    }
    out.push('Assertion (SAML 1.1, unsigned):', assertion, '');
    return `${out.join('\n')}\n`;
  } finally {
    await directory.close();
  }
}
