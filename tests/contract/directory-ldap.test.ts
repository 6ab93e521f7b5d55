// The directory contract against the real Samba AD DC (tests/setup/samba.sh; fails, never skips, without it).
import { pino } from 'pino';
import { createDirectory } from '../../server/directory/index.ts';
import { systemClock } from '../../server/lib/clock.ts';
import {
  readBinaryAttributeWithCli,
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
} from '../helpers/samba.ts';
import { directoryContract, type ContractAccount } from './directory.contract.ts';

const env = sambaEnv();
const account = (name: keyof typeof env.users): ContractAccount => ({
  sAMAccountName: name,
  password: env.users[name].password,
  upn: env.users[name].upn,
});
const consistencyGuid = readBinaryAttributeWithCli(env, 'consistency1', 'mS-DS-ConsistencyGuid');
if (consistencyGuid === undefined)
  throw new Error('consistency1 has no mS-DS-ConsistencyGuid; re-run tests/setup/samba.sh');

directoryContract('ldap (Samba AD DC)', {
  netbiosDomain: env.netbiosDomain,
  accounts: {
    normal: account('jdoe'),
    second: account('jsmith'),
    disabled: account('disabled1'),
    mustChange: account('mustchange1'),
    passwordExpired: account('expired1'),
    accountExpired: account('acctexpired1'),
    locked: account('locked1'),
    consistency: account('consistency1'),
  },
  normal: {
    groups: ['Finance'],
    displayName: 'John Doe (Finance)',
    mail: 'john.doe@corp.example.test',
    nestedGroups: ['Staff', 'Domain Users'],
  },
  consistencyGuid,
  open: (onOperation) =>
    createDirectory(sambaLdapConfig(env), {
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      baseDir: '/',
      onOperation,
    }),
  independentObjectGuid: (sam) => readObjectGuidWithCli(env, sam),
});
