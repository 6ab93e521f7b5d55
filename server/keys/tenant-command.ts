/**
 * The Microsoft Graph PowerShell line that hands a new token-signing certificate to Entra ID (entra-protocol §4.2:
 * `Update-MgDomainFederationConfiguration -DomainId -InternalDomainFederationId -NextSigningCertificate`). Entra
 * reads the next certificate from the federation metadata on its own from 35 days before expiry, but how it finds
 * the metadata of an IdP that is not AD FS is not documented; this line makes the push path one paste.
 */
export function nextSigningCertificateCommand(certificateBase64: string, domain?: string): string {
  return tenantCertificateCommand('NextSigningCertificate', certificateBase64, domain);
}

/** After a promotion: the new primary as the tenant's signingCertificate. */
export function signingCertificateCommand(certificateBase64: string, domain?: string): string {
  return tenantCertificateCommand('SigningCertificate', certificateBase64, domain);
}

function tenantCertificateCommand(
  parameter: 'NextSigningCertificate' | 'SigningCertificate',
  certificateBase64: string,
  domain: string | undefined,
): string {
  if (!/^[A-Za-z0-9+/]+=*$/.test(certificateBase64))
    throw new TypeError('the certificate must be plain base64');
  // A domain name is letters, digits, dots and hyphens; anything else is left as the placeholder.
  const d = domain !== undefined && /^[A-Za-z0-9.-]{1,253}$/.test(domain) ? domain : '<domain>';
  return (
    `$d = "${d}"; Update-MgDomainFederationConfiguration -DomainId $d ` +
    `-InternalDomainFederationId (Get-MgDomainFederationConfiguration -DomainId $d).Id ` +
    `-${parameter} "${certificateBase64}"`
  );
}
