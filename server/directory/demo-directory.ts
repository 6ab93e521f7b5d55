/**
 * The bundled demo directory (NetBIOS domain FEDGATE, UPN suffix fedgate.test) used when no directory is
 * configured. A TS module rather than a YAML file so it ships in dist/ with `tsc`; it has the same shape as
 * an external users file (see the format in embedded.ts).
 *
 * Every demo password is `Passw0rd!` (public on purpose: this directory is for demos and tests only).
 *   alice    normal, groups Finance and Staff      bob      normal
 *   carol    disabled                              dave     password expired
 *   erin     must change password                  mallory  locked out
 *   grace    mS-DS-ConsistencyGuid set              heidi    account expired
 * objectGUIDs are fixed so ImmutableIDs are stable across restarts. Groups: Finance (nested in Staff), Staff, and
 * Domain Users (everyone's primary group), with SIDs in the demo domain S-1-5-21-3623811015-3361044348-30300820.
 */
export const DEMO_PASSWORD = 'Passw0rd!';

export const DEMO_DIRECTORY = {
  upnSuffix: 'fedgate.test',
  primaryGroup: 'Domain Users',
  groups: [
    { name: 'Domain Users', objectSid: 'S-1-5-21-3623811015-3361044348-30300820-513' },
    {
      name: 'Finance',
      objectSid: 'S-1-5-21-3623811015-3361044348-30300820-1201',
      memberOf: ['Staff'],
    },
    { name: 'Staff', objectSid: 'S-1-5-21-3623811015-3361044348-30300820-1202' },
  ],
  users: [
    {
      sAMAccountName: 'alice',
      objectGuid: '086ffe47-984f-4734-bd0d-b90223cff0b0',
      objectSid: 'S-1-5-21-3623811015-3361044348-30300820-1101',
      displayName: 'Alice Anderson',
      givenName: 'Alice',
      surname: 'Anderson',
      mail: 'alice@fedgate.test',
      groups: ['Finance', 'Staff'],
      passwordHash:
        'scrypt$16384$8$1$i3wHN3W8lub1oxenGYS7cw==$e7Fk5ltKwL/M1tXymQJCjDNUCHMdHOcogEg5iZX1MjY=',
    },
    {
      sAMAccountName: 'bob',
      objectGuid: '4b5db359-8a53-4027-9c7b-a517025fb74a',
      objectSid: 'S-1-5-21-3623811015-3361044348-30300820-1102',
      displayName: 'Bob Brown',
      givenName: 'Bob',
      surname: 'Brown',
      mail: 'bob@fedgate.test',
      passwordHash:
        'scrypt$16384$8$1$/PUILP3Wbl4s1vL7oXJzUQ==$d1CuNxEP5sYCSnt94anvsVp2EMmy1C+MfxcQ/7QbsDQ=',
    },
    {
      sAMAccountName: 'carol',
      objectGuid: 'c92179f7-285e-4027-a792-9663129e8e26',
      displayName: 'Carol Clark',
      enabled: false,
      passwordHash:
        'scrypt$16384$8$1$mBKGJOjv6W/qfeQ9IZyc+A==$Dgb+xIxUK8vTfS4dwzd66rB108vjxwamB+Fj5plMa38=',
    },
    {
      sAMAccountName: 'dave',
      objectGuid: '3f316eef-59e9-4f7f-b239-182654a8efe3',
      displayName: 'Dave Davis',
      passwordExpired: true,
      passwordHash:
        'scrypt$16384$8$1$r3rUZ76ax6E7VY0y5wqLcw==$INAPGMgfGLBhkbEe9jhlqRlVhEoBRMlEpYDnPrks1w8=',
    },
    {
      sAMAccountName: 'erin',
      objectGuid: '65d319ea-483f-44a3-912e-223ce7180204',
      displayName: 'Erin Evans',
      mustChangePassword: true,
      passwordHash:
        'scrypt$16384$8$1$5imGbIWrFzv0XyXOgE3nzw==$cwwacL1S4Ye6xsIwbjkMUpix642Sir4X8zB4LVFnUXg=',
    },
    {
      sAMAccountName: 'mallory',
      objectGuid: '23c06f03-76b3-4b80-bae9-ca9ec6af8c7d',
      displayName: 'Mallory Moore',
      locked: true,
      passwordHash:
        'scrypt$16384$8$1$Wc1WQgrgE93V5q7DIKiW2Q==$njtDRfGIu1fq0/76ik30zVWob2A/KaR3e+BXUEzXPoA=',
    },
    {
      sAMAccountName: 'grace',
      objectGuid: '414e4027-b976-4f71-8f10-a10068e1be20',
      consistencyGuid: '9d2c66a3-0f4b-4f8e-a5f1-52e0c3b7d6a4',
      displayName: 'Grace Green',
      passwordHash:
        'scrypt$16384$8$1$eHJLBjyqgVziFLXX6YnyQA==$7Z59UFXin/9miyTXnjOFSlPhloEVJpBxM0o5IJu35hU=',
    },
    {
      sAMAccountName: 'heidi',
      objectGuid: 'd389fcbf-1bdf-4e16-87d5-4211d13f6e05',
      displayName: 'Heidi Hill',
      accountExpires: '2020-01-01T00:00:00Z',
      passwordHash:
        'scrypt$16384$8$1$tCgHHS/aGgMPSUItSpCvcQ==$2ymiMmNez5uK0gJTyDjzo+CHFF8Cxzjx5CfItycDL7g=',
    },
  ],
};
