// Headless Chromium through the administration console, as its people use it: a Verbund
// admin signs in with password and app code, creates a Kommune with its colour and logo,
// registers a portal (the secret is shown once), sets a process level and makes a clerk;
// the clerk signs in and confirms a citizen's identity; the portal's login page then shows
// the Kommune. axe-core (WCAG 2.1 A and AA) runs on every console page in German and
// English at 1280 px and 320 px, and nothing may scroll sideways (tables scroll in their
// own region).
//
//   node console.mjs BASE ADMIN_EMAIL CLERK_EMAIL PASSWORD ADMIN_SECRET_HEX ADMIN_STEP \
//                    CLERK_SECRET_HEX CLERK_STEP CITIZEN_EMAIL
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { createHmac } from "node:crypto";

const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const [base, adminEmail, clerkEmail, password, adminSecret, adminStep, clerkSecret, clerkStep, citizen] =
  process.argv.slice(2);
const problems = [];
const LOGO = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><circle cx="20" cy="20" r="18" fill="#1f4e79"/></svg>';

// RFC 6238 with SHA-1, six digits, 30-second steps (what the server checks).
const totp = (hex, step) => {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac("sha1", Buffer.from(hex, "hex")).update(counter).digest();
  const o = h[h.length - 1] & 15;
  const n = ((h[o] & 127) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1000000).padStart(6, "0");
};
// A step after the one used at enrolment, within the server's window of one step.
const nextStep = (used) => Math.max(Number(used) + 1, Math.floor(Date.now() / 30000));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

// A context whose pages report script errors; axe is injected, so it bypasses our CSP.
const open = async (locale = "de-DE") => {
  const ctx = await browser.newContext({ locale, bypassCSP: true, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  return { ctx, page };
};

const signIn = async (page, email, secret, step) => {
  await page.goto(`${base}/login`);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(/\/login\/otp/), page.click('form[action="/login"] button[type=submit]')]);
  await page.fill("#code", totp(secret, nextStep(step)));
  await Promise.all([page.waitForLoadState("load"), page.click('form[action="/login/otp"] button[type=submit]')]);
  if (!page.url().endsWith("/konto")) problems.push(`${email}: sign-in ended at ${page.url()}`);
};

// axe and reflow at both widths on the page as it is (a form's answer included); then, for
// pages that a GET shows again, the same in English.
const check = async (page, what, { english = true } = {}) => {
  const run = async (lang) => {
    for (const width of [1280, 320]) {
      const where = `${what} (${lang}, ${width} px)`;
      await page.setViewportSize({ width, height: 800 });
      await page.addScriptTag({ path: axePath });
      const result = await page.evaluate(() => axe.run(document, {
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
      }));
      for (const v of result.violations) {
        problems.push(`${where}: axe ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
      }
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) problems.push(`${where}: scrolls sideways by ${overflow} px`);
      if ((await page.getAttribute("html", "lang")) !== lang) problems.push(`${where}: page language is not ${lang}`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  };
  await run("de");
  if (!english) return;
  const here = new URL(page.url());
  const back = encodeURIComponent(here.pathname + here.search);
  await page.goto(`${base}/lang?to=en&back=${back}`);
  await run("en");
  await page.goto(`${base}/lang?to=de&back=${back}`);
};

const submit = (page, selector) =>
  Promise.all([page.waitForLoadState("load"), page.click(`${selector} button[type=submit]`)]);

try {
  // The Verbund admin.
  const admin = await open();
  const a = admin.page;
  await signIn(a, adminEmail, adminSecret, adminStep);
  await a.goto(`${base}/admin`);
  await check(a, "overview");

  // A Kommune with its colour, support contact and logo.
  await a.goto(`${base}/admin/kommunen`);
  await check(a, "tenants");
  await a.fill("#slug", "gemeinde-beispielheim");
  await a.fill("#name", "Gemeinde Beispielheim");
  await submit(a, 'form[action="/admin/kommunen"]');
  if (!a.url().includes("/admin/kommunen/gemeinde-beispielheim")) problems.push(`creating the Kommune ended at ${a.url()}`);
  await a.fill("#accent_color", "#ffff00");
  await submit(a, 'form[action="/admin/kommunen/gemeinde-beispielheim"]');
  if (!(await a.content()).includes("4,5:1")) problems.push("a colour without contrast was not refused");
  await check(a, "tenant with an error", { english: false });
  await a.fill("#accent_color", "#1f4e79");
  await a.fill("#support_contact", "Bürgerbüro Beispielheim, 05931 44-0");
  await submit(a, 'form[action="/admin/kommunen/gemeinde-beispielheim"]');
  await a.setInputFiles("#logo", { name: "wappen.svg", mimeType: "image/svg+xml", buffer: Buffer.from(LOGO) });
  await submit(a, 'form[action="/admin/kommunen/gemeinde-beispielheim/logo"]');
  if (!a.url().includes("ok=logo")) problems.push(`the logo upload ended at ${a.url()}`);
  await check(a, "tenant");

  // A portal: the secret is shown once.
  await a.goto(`${base}/admin/portale/neu?kommune=gemeinde-beispielheim`);
  await check(a, "new portal");
  await a.fill("#name", "Hundesteuer online");
  await a.fill("#redirect_uris", "https://hundesteuer.beispielheim.example/callback");
  await submit(a, 'form[action="/admin/portale"]');
  const clientId = (await a.textContent("#client-id"))?.trim();
  if (!clientId || !(await a.textContent("#client-secret"))) problems.push("the new portal's credentials were not shown");
  await check(a, "portal secret", { english: false });
  await a.goto(`${base}/admin/portale`);
  await check(a, "portals");
  await a.goto(`${base}/admin/portale/${clientId}`);
  await check(a, "portal");

  // A process level, raised for the Kommune.
  await a.goto(`${base}/admin/verfahren`);
  await a.fill("#id", "hundesteuer");
  await a.fill("#name", "Hundesteuer anmelden");
  await a.selectOption("#level", "low");
  await submit(a, 'form[action="/admin/verfahren"]:has(#name)');
  await a.fill("#raise-id", "hundesteuer");
  await a.selectOption("#raise-kommune", "gemeinde-beispielheim");
  await a.selectOption("#raise-level", "substantial");
  await submit(a, 'form[action="/admin/verfahren"]:has(#raise-id)');
  if (!(await a.content()).includes("Gemeinde Beispielheim: substanziell")) problems.push("the raise is not listed");
  await check(a, "processes");

  // The clerk's role, then the audit log.
  await a.goto(`${base}/admin/rollen`);
  await a.fill("#email", clerkEmail);
  await a.selectOption("#role", "clerk");
  await a.selectOption("#tenant", "gemeinde-beispielheim");
  await submit(a, 'form[action="/admin/rollen"]');
  if (!a.url().includes("ok=granted")) problems.push(`granting the clerk role ended at ${a.url()}`);
  await check(a, "roles");
  await a.goto(`${base}/admin/protokoll`);
  await check(a, "audit log");
  await a.goto(`${base}/admin/buergerservice`);
  await check(a, "desk");
  await admin.ctx.close();

  // The clerk confirms the citizen's identity.
  const clerk = await open();
  const c = clerk.page;
  await signIn(c, clerkEmail, clerkSecret, clerkStep);
  await c.goto(`${base}/admin/buergerservice`);
  await c.fill("#email", citizen);
  await submit(c, 'form[action="/admin/buergerservice"]:has(#email)');
  await check(c, "desk, not found", { english: false });
  await c.selectOption("#level", "substantial");
  await c.selectOption("#document_type", "personalausweis");
  await c.fill("#given_name", "Erika");
  await c.fill("#family_name", "Mustermann");
  await submit(c, 'form[action="/admin/buergerservice"]:has(#document_type)');
  const desk = await c.content();
  if (!desk.includes("Die Identitätsprüfung wurde gespeichert.") || !desk.includes(`${clerkEmail} (gemeinde-beispielheim)`)) {
    problems.push("the clerk's identity check was not recorded");
  }
  await check(c, "desk, citizen", { english: false });
  await clerk.ctx.close();

  // The portal's login page shows the Kommune.
  const citizenCtx = await open();
  const p = citizenCtx.page;
  const authorize = new URL(`${base}/authorize`);
  for (const [k, v] of Object.entries({
    client_id: clientId, response_type: "code", scope: "openid",
    redirect_uri: "https://hundesteuer.beispielheim.example/callback", state: "s", nonce: "n",
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256",
  })) authorize.searchParams.set(k, v);
  await p.goto(authorize.toString());
  const login = await p.content();
  if (!login.includes("Anmeldung für Hundesteuer online – Gemeinde Beispielheim")) problems.push("the login page does not name the Kommune");
  const logoShown = await p.evaluate(() => {
    const img = document.querySelector("img.face-logo");
    return !!img && img.complete && img.naturalWidth > 0;
  });
  if (!logoShown) problems.push("the Kommune's logo is not shown on the login page");
  const accent = await p.evaluate(() => getComputedStyle(document.querySelector(".top")).backgroundColor);
  if (accent !== "rgb(31, 78, 121)") problems.push(`the Kommune's colour is not applied (${accent})`);
  await check(p, "login of the Kommune's portal");
  await citizenCtx.ctx.close();
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("console check passed");
