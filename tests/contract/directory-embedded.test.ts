// The directory contract against the embedded provider with the bundled demo directory.
import { pino } from 'pino';
import { DEMO_DIRECTORY, DEMO_PASSWORD } from '../../server/directory/demo-directory.ts';
import { guidToBytes } from '../../server/directory/guid.ts';
import { createDirectory } from '../../server/directory/index.ts';
import { systemClock } from '../../server/lib/clock.ts';
import { directoryContract, type ContractAccount } from './directory.contract.ts';

const account = (sAMAccountName: string): ContractAccount => ({
  sAMAccountName,
  password: DEMO_PASSWORD,
  upn: `${sAMAccountName}@fedgate.test`,
});
const grace = DEMO_DIRECTORY.users.find((u) => u.sAMAccountName === 'grace');
const consistencyGuid =
  grace?.consistencyGuid === undefined ? undefined : guidToBytes(grace.consistencyGuid);
if (consistencyGuid === undefined) throw new Error('demo user grace has no consistencyGuid');

directoryContract('embedded (demo directory)', {
  netbiosDomain: 'FEDGATE',
  accounts: {
    normal: account('alice'),
    second: account('bob'),
    disabled: account('carol'),
    mustChange: account('erin'),
    passwordExpired: account('dave'),
    accountExpired: account('heidi'),
    locked: account('mallory'),
    consistency: account('grace'),
  },
  normal: {
    groups: ['Finance', 'Staff'],
    displayName: 'Alice Anderson',
    mail: 'alice@fedgate.test',
    nestedGroups: ['Staff', 'Domain Users'],
  },
  consistencyGuid,
  open: (onOperation) =>
    createDirectory(
      { kind: 'embedded', netbiosDomain: 'FEDGATE' },
      {
        logger: pino({ level: 'silent' }),
        clock: systemClock,
        baseDir: process.cwd(),
        onOperation,
      },
    ),
});
