/** The simulator's stand-in for Dhan's consent login page. Every value shown is escaped. */
export type LoginPage =
  | { readonly kind: 'login'; readonly consentAppId: string; readonly clientId: string; readonly name: string }
  | { readonly kind: 'gone' }
  | { readonly kind: 'refused'; readonly problem: string };

export function loginPage(page: LoginPage): string {
  switch (page.kind) {
    case 'login':
      return layout(
        'Log in to Dhan (simulated)',
        `<p>An app asks for access to the Dhan account <strong>${escapeHtml(page.clientId)}</strong> (${escapeHtml(page.name)}).</p>
<p>This is the Dhan simulator: no OTP or PIN is asked. Approving sends this browser back to the app with a tokenId.</p>
<form method="post" action="/login/consentApp-login">
<input type="hidden" name="consentAppId" value="${escapeHtml(page.consentAppId)}">
<button type="submit">Approve</button>
</form>`,
      );
    case 'gone':
      return layout(
        'Login link not valid',
        '<p>This login link is unknown or was already used. Start a new login from the app.</p>',
      );
    case 'refused':
      return layout('Login not possible', `<p>${escapeHtml(page.problem)}</p>`);
  }
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`;
}

// Its own copy: the simulator shares no code with the keeper but the clock.
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
