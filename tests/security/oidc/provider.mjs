// A real OpenID Connect provider (the certified `oidc-provider` package) for Vitrine's sign-in
// browser test: one confidential client (the app), a few accounts whose ID tokens carry email and
// email_verified, and the package's own login form (any password), which the test fills in.
// Usage: node provider.mjs <port> <app redirect_uri> <client_id> <client_secret>; prints "ready <issuer>".
import Provider from 'oidc-provider';

const [port, redirectUri, clientId, clientSecret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

// login -> claims; the login typed into the form is the account id
const ACCOUNTS = {
  'ana@shop.com': { email: 'ana@shop.com', email_verified: true, name: 'Ana Analyst' },
  'boss@shop.com': { email: 'boss@shop.com', email_verified: true, name: 'Bo Admin' },
  'eve@evilshop.com': { email: 'eve@evilshop.com', email_verified: true, name: 'Eve Elsewhere' },
  'una@shop.com': { email: 'una@shop.com', email_verified: false, name: 'Una Unverified' },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // Streamlit reads the identity from the ID token (as Google's carries it), not /userinfo
  conformIdTokenClaims: false,
  // the app is first-party: no consent screen, every requested scope is granted
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    grant.addOIDCClaims(['email', 'email_verified', 'name']);
    await grant.save();
    return grant;
  },
  async findAccount(ctx, id) {
    const claims = ACCOUNTS[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  cookies: { keys: ['vitrine-test-only-cookie-key'] },
  features: { devInteractions: { enabled: true } },
});
provider.listen(Number(port), '127.0.0.1', () => { console.log(`ready ${issuer}`); });
