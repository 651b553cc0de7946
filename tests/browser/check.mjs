// Headless Chromium against a running Bürgerkonto: logs in through the form, adds a passkey
// with Chrome's virtual authenticator (so passkey.js and the server meet a real WebAuthn
// client), logs out, logs in with the passkey alone, and checks every page it sees for
// script errors (CSP violations included), a language, and labels on every visible field.
//
// Then it runs axe-core (WCAG 2.1 A and AA rules), in German and English at 1280 px and
// 320 px, on: the legal pages and the feedback form's states; registration and login;
// password reset and the confirmation link (with the "request ended" notice, and invalid);
// the 404 page; the login's second step (the passkey is carried into each new context); and,
// signed in, the account's pages (TOTP setup, e-mail confirmation, the logout question), the
// mailbox and its bin (empty and with a message), and the page after asking for the
// account's deletion (which the next context's login cancels). It checks that nothing
// scrolls sideways at
// 320 px (reflow, WCAG 1.4.10).
//
//   node check.mjs BASE EMAIL PASSWORD MESSAGE_ID VERIFY_PATH RESET_PATH
// (a confirmation link whose portal request ended, and a reset link: opening uses neither)
import { chromium } from "playwright-core";
import { createRequire } from "node:module";

const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

const [base, email, password, message, verifyPath, resetPath] = process.argv.slice(2);
const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ locale: "de-DE" });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e}`));
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`); });
  const cdp = await context.newCDPSession(page);
  const authenticator = {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  };
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", authenticator);

  const audit = async (what) => {
    const found = await page.evaluate(() => {
      const out = [];
      if (!document.documentElement.lang) out.push("no lang on <html>");
      if (!document.querySelector("h1")) out.push("no <h1>");
      for (const el of document.querySelectorAll("input, textarea, select")) {
        if (el.type === "hidden") continue;
        const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.closest("label")
          || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
        if (!labelled) out.push(`field without label: ${el.name || el.outerHTML.slice(0, 60)}`);
      }
      return out;
    });
    for (const f of found) problems.push(`${what}: ${f}`);
  };

  // Password login through the form.
  await page.goto(`${base}/login`);
  await audit("login");
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(`${base}/konto`), page.click('form[action="/login"] button[type=submit]')]);
  await audit("account");

  // Add a passkey: the button is enabled by passkey.js, which runs navigator.credentials.create.
  await page.goto(`${base}/konto/sicherheit`);
  await audit("security");
  await page.fill("#pk-name", "Virtueller Schlüssel");
  const add = page.locator('form[data-passkey="create"] button[type=submit]');
  await add.waitFor({ state: "visible" });
  if (await add.isDisabled()) problems.push("the add-passkey button stayed disabled");
  await Promise.all([page.waitForLoadState("load"), add.click()]);
  await page.waitForSelector("text=Der Passkey wurde hinzugefügt.", { timeout: 10000 })
    .catch(() => problems.push("adding the passkey did not succeed"));
  if (!(await page.content()).includes("Virtueller Schlüssel")) problems.push("the passkey is not listed");

  // The passkey, to carry into the later browser contexts (their own virtual authenticators).
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  if (credentials.length !== 1) problems.push(`the authenticator holds ${credentials.length} passkeys`);

  // Log out, then log in with the passkey alone.
  await page.goto(`${base}/konto`);
  await Promise.all([page.waitForLoadState("load"), page.click('form[action="/logout/confirm"] button')]);
  await page.goto(`${base}/login`);
  await Promise.all([page.waitForURL(/\/login\/passkey/), page.click('a[href^="/login/passkey"]')]);
  await audit("passkey login");
  const login = page.locator('form[data-passkey="get"] button[type=submit]');
  await login.waitFor({ state: "visible" });
  await Promise.all([
    page.waitForURL(`${base}/konto`, { timeout: 10000 }).catch(() => problems.push("passkey login did not reach /konto")),
    login.click(),
  ]);
  await page.goto(`${base}/postfach`);
  await audit("mailbox");
  // Read the message and answer it with a file, as a citizen would (no script involved).
  await Promise.all([page.waitForURL(`${base}/postfach/${message}`), page.click(`a[href="/postfach/${message}"]`)]);
  await audit("message");
  await page.fill("#reply", "Vielen Dank, ich komme am Montag.");
  await page.setInputFiles("#files", { name: "Nachweis.txt", mimeType: "text/plain", buffer: Buffer.from("Nachweis") });
  await Promise.all([page.waitForURL(/gesendet=1/), page.click('form[enctype="multipart/form-data"] button[type=submit]')]);
  const answered = await page.content();
  if (!answered.includes("Ihre Antwort wurde übermittelt.") || !answered.includes("Nachweis.txt")) {
    problems.push("the reply with its file was not shown");
  }
  // "Meine Daten": the page and its download.
  await page.goto(`${base}/konto/daten`);
  await audit("my data");
  if (!(await page.content()).includes(email)) problems.push("my data does not show the address");

  let signCount = 0;
  // axe-core on every state of the new pages, both languages, desktop and phone width. The
  // script is injected, so this context bypasses our CSP (the pages themselves are unchanged).
  for (const [locale, lang] of [["de-DE", "de"], ["en-US", "en"]]) {
    for (const width of [1280, 320]) {
      const ctx = await browser.newContext({ locale, bypassCSP: true, viewport: { width, height: 800 } });
      const p = await ctx.newPage();
      const pcdp = await ctx.newCDPSession(p);
      await pcdp.send("WebAuthn.enable");
      const added = await pcdp.send("WebAuthn.addVirtualAuthenticator", authenticator);
      // The server refuses a signature counter that went back (a cloned key): each copy
      // starts above every use before it.
      signCount += 1000;
      for (const credential of credentials) {
        await pcdp.send("WebAuthn.addCredential",
          { authenticatorId: added.authenticatorId, credential: { ...credential, signCount } });
      }
      const check = async (what) => {
        const where = `${what} (${lang}, ${width} px)`;
        await p.addScriptTag({ path: axePath });
        const result = await p.evaluate(() => axe.run(document, {
          runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
        }));
        for (const v of result.violations) {
          problems.push(`${where}: axe ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
        }
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 0) problems.push(`${where}: scrolls sideways by ${overflow} px`);
        if ((await p.getAttribute("html", "lang")) !== lang) problems.push(`${where}: page language is not ${lang}`);
      };
      for (const path of ["/impressum", "/datenschutz", "/barrierefreiheit", "/leichte-sprache",
        "/gebaerdensprache", "/hilfe", "/register", "/login", "/password/forgot", verifyPath, resetPath,
        "/verify-email?token=abgelaufen", "/password/reset?token=abgelaufen", "/gibt-es-nicht"]) {
        await p.goto(`${base}${path}`);
        if (path === verifyPath && !(await p.content()).includes('class="notice"')) {
          problems.push(`verify page (${lang}): no notice that the portal's request ended`);
        }
        if (path === resetPath && !(await p.content()).includes('autocomplete="new-password"')) {
          problems.push(`reset page (${lang}): no form`);
        }
        await check(path === verifyPath ? "verify (request ended)" : path);
      }
      // The registration form with every field wrong.
      await p.goto(`${base}/register`);
      await p.fill("#email", "kein-at");
      await p.fill("#password", "kurz");
      await Promise.all([p.waitForLoadState("load"), p.click('form[action="/register"] button[type=submit]')]);
      await check("register errors");
      // The feedback form with an error, and after a report (the notice).
      await p.goto(`${base}/barrierefreiheit`);
      await Promise.all([p.waitForLoadState("load"), p.click('form[action^="/barrierefreiheit"] button[type=submit]')]);
      if (!(await p.title()).startsWith(lang === "de" ? "Fehler" : "Error")) problems.push(`feedback error (${lang}): title without Fehler/Error`);
      await check("feedback error");
      await p.fill("#fb-message", `Browser-Prüfung ${lang} ${width}`);
      await Promise.all([p.waitForURL(/gesendet=1/), p.click('form[action^="/barrierefreiheit"] button[type=submit]')]);
      const focused = await p.evaluate(() => document.activeElement && document.activeElement.id);
      if (focused !== "fb-notice") problems.push(`feedback sent (${lang}, ${width} px): focus is on ${focused}, not the notice`);
      await check("feedback sent");
      // Signed in: the password leads to the second step (the account has a passkey), which
      // the passkey completes; then the account's pages.
      await p.goto(`${base}/login`);
      await p.fill("#email", email);
      await p.fill("#password", password);
      await Promise.all([p.waitForLoadState("load"), p.click('form[action="/login"] button[type=submit]')]);
      if (!p.url().endsWith("/login/otp")) problems.push(`second step (${lang}, ${width} px): login ended at ${p.url()}`);
      await check("login second step");
      const second = p.locator('form[data-passkey="get"] button[type=submit]');
      await second.waitFor({ state: "visible" });
      await Promise.all([
        p.waitForURL(`${base}/konto`, { timeout: 10000 }).catch(() => {}),
        second.click(),
      ]);
      if (!p.url().endsWith("/konto")) problems.push(`signed-in check (${lang}, ${width} px): login ended at ${p.url()}`);
      for (const path of ["/konto", "/konto/daten", "/konto/passwort", "/konto/email", "/postfach",
        `/postfach/${message}`, `/postfach/${message}/loeschen`, "/postfach?papierkorb=1", "/konto/loeschen", "/konto/totp",
        "/konto/email/bestaetigen?token=beispiel", "/logout", "/konto/sicherheit"]) {
        await p.goto(`${base}${path}`);
        if (path !== "/konto/sicherheit" && !p.url().endsWith(path)) problems.push(`${path} (${lang}): ended at ${p.url()}`);
        await check(path);
      }
      // The bin with the message in it (then back to the inbox).
      await p.goto(`${base}/postfach/${message}/loeschen`);
      await Promise.all([p.waitForURL(/geloescht=1/), p.click(`form[action="/postfach/${message}/loeschen"] button[type=submit]`)]);
      await check("after delete");
      await p.goto(`${base}/postfach?papierkorb=1`);
      await check("bin with a message");
      await Promise.all([p.waitForURL(/wiederhergestellt=1/), p.click(`form[action="/postfach/${message}/wiederherstellen"] button[type=submit]`)]);
      await check("after restore");
      // Asking for the account's deletion: the page after it (the next login cancels it).
      await p.goto(`${base}/konto/loeschen`);
      await p.fill("#password", password);
      await Promise.all([p.waitForLoadState("load"), p.click('form[action="/konto/loeschen"] button[type=submit]')]);
      if (!(await p.content()).includes('id="del-notice"')) problems.push(`deletion (${lang}, ${width} px): no confirmation`);
      await check("deletion requested");
      await ctx.close();
    }
  }
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("browser check passed");
