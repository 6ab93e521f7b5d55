/**
 * The text of a file PowerShell wrote (`ConvertTo-Json` saved by the admin): Windows PowerShell 5.1's `>` and
 * Out-File write UTF-16LE with a byte order mark, `Out-File -Encoding utf8` and `Set-Content -Encoding UTF8` UTF-8
 * with one, PowerShell 7 UTF-8 without one; UTF-16BE is read too. Undefined when the bytes are none of these (not
 * valid UTF-8): the caller says which file.
 */
export function decodePowerShellText(buf: Uint8Array): string | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0xfe) return b.subarray(2).toString('utf16le');
  if (b.length >= 2 && b[0] === 0xfe && b[1] === 0xff) {
    const le = Buffer.from(b.subarray(2));
    le.swap16();
    return le.toString('utf16le');
  }
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf)
    return strictUtf8(b.subarray(3));
  // UTF-16LE without a BOM: JSON starts with an ASCII character, so its second byte is zero.
  if (b.length >= 2 && b.length % 2 === 0 && b[0] !== 0 && b[1] === 0) return b.toString('utf16le');
  return strictUtf8(b);
}

function strictUtf8(b: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return undefined;
  }
}
