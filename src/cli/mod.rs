//! Commands. Each prints JSON on stdout where it creates something; calls services and the
//! store API, never SQL.

use crate::app::{Application, Services};
use crate::config::Config;
use crate::domain::client::SigningAlg;
use crate::domain::ids::TenantSlug;
use crate::domain::level::Loa;
use crate::domain::process::ProcessScope;
use crate::keyring::Keyring;
use crate::registry::{self, NewClient};
use crate::store::Db;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

pub mod manage;
use serde_json::json;
use std::io::Read;

#[derive(Parser, Debug)]
#[command(
    name = "buergerkonto",
    version,
    about = "Bürgerkonto: OpenID Connect provider for municipalities"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once per run; boxing would only make the match arms noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        cmd: TenantCmd,
    },
    /// Manage clients (portals and authority systems).
    Client {
        #[command(subcommand)]
        cmd: ClientCmd,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Contact topics: what citizens can write to a Kommune about, and which system receives it.
    Topic {
        #[command(subcommand)]
        cmd: manage::TopicManage,
    },
    /// Manage the process catalogue.
    Process {
        #[command(subcommand)]
        cmd: ProcessCmd,
    },
    /// Administration roles: who may use the console, and where.
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
    /// Manage signing keys and the mailbox master key.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Print the OpenAPI description of the JSON APIs (what docs/openapi.json holds).
    Openapi,
    /// Back up while the server runs: a consistent copy of the SQLite database and the keys
    /// folder into a new folder (PostgreSQL: the keys; the database with pg_dump, see
    /// docs/operators.md#backups).
    Backup {
        /// The folder to create (it must not exist).
        #[arg(long)]
        to: std::path::PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantCmd {
    /// Add a tenant (a Landkreis or Kommune).
    Add {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List the tenants as a JSON array (id, slug, name, created_at and the Kommune's links).
    List,
    /// Set the Kommune's own Impressum and privacy notice (https URLs), shown on the login
    /// and consent pages of its portals; an empty value clears one.
    Links {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        impressum_url: String,
        #[arg(long)]
        privacy_url: String,
    },
    #[command(flatten)]
    Manage(manage::TenantManage),
}

#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    /// Register a client; prints {"client_id", "client_secret"}.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// authorization_code, refresh_token, client_credentials (default: authorization_code
        /// with redirect URIs, client_credentials without).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Allowed scopes (default: openid email).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// pairwise (default: one subject per tenant) or public.
        #[arg(long = "subject-type", default_value = "pairwise")]
        subject_type: String,
        /// ID token signing algorithm: RS256 (default) or ES256.
        #[arg(long = "id-token-alg", default_value = "RS256")]
        id_token_alg: String,
        /// Token endpoint authentication: client_secret_basic (default), client_secret_post,
        /// private_key_jwt (with --jwks or --jwks-uri).
        #[arg(long = "auth-method")]
        auth_method: Option<String>,
        /// The client's public keys for private_key_jwt: a JWK Set as JSON or a file holding it.
        #[arg(long)]
        jwks: Option<String>,
        /// Where the client publishes its JWK Set.
        #[arg(long = "jwks-uri")]
        jwks_uri: Option<String>,
        /// Where logout tokens are sent (OpenID Connect Back-Channel Logout).
        #[arg(long = "backchannel-logout-uri")]
        backchannel_logout_uri: Option<String>,
        /// The level every login for this portal needs: low, substantial or high.
        #[arg(long = "default-level")]
        default_level: Option<String>,
    },
    #[command(flatten)]
    Manage(manage::ClientManage),
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Record that a clerk confirmed the holder's identity in person (raises the proofing level).
    VerifyIdentity {
        #[arg(long)]
        email: String,
        /// substantial (ID document checked) or high (electronic ID card read).
        #[arg(long)]
        level: String,
        /// The document checked, e.g. personalausweis, reisepass, aufenthaltstitel.
        #[arg(long = "document-type")]
        document_type: String,
        /// Who confirmed it (name or staff id of the clerk).
        #[arg(long)]
        clerk: String,
        /// Given name(s) as on the document; stored as verified data.
        #[arg(long = "given-name")]
        given_name: Option<String>,
        /// Family name as on the document.
        #[arg(long = "family-name")]
        family_name: Option<String>,
        /// Birth date as on the document, YYYY-MM-DD.
        #[arg(long)]
        birthdate: Option<String>,
    },
    /// Add a verified account (level low); the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long = "password-stdin")]
        password_stdin: bool,
    },
    #[command(flatten)]
    Manage(manage::UserManage),
}

#[derive(Subcommand, Debug)]
pub enum ProcessCmd {
    /// Set a process's level for the whole Verbund, or raise it for one tenant (--tenant).
    Set {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// low, substantial or high.
        #[arg(long)]
        level: String,
        #[arg(long)]
        tenant: Option<String>,
        /// The level must be confirmed by an upstream (BundID) in the login, not by a
        /// clerk's check (§ 3 Abs. 4 OZG): `true` or `false`; left out, the entry keeps
        /// what it had.
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        upstream_required: Option<bool>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCmd {
    /// Grant a role to an account: verbund_admin, kommune_admin (--tenant), clerk (--tenant)
    /// or auditor (optionally --tenant).
    Grant {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        /// The tenant's slug.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a role from an account.
    Revoke {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List every grant as a JSON array.
    List,
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Create a new signing key: published in the JWKS at once, signing after the delay; the
    /// current key signs until then and stays in the JWKS for two more days.
    Rotate {
        #[arg(long, default_value = "RS256")]
        alg: String,
        /// Seconds until the new key signs (longer than relying parties cache the JWKS).
        #[arg(long = "activate-in-secs", default_value_t = 600)]
        activate_in_secs: u32,
    },
    /// Create a new mailbox master key and re-wrap every message's data key with it (the
    /// content is not re-encrypted). Old master keys can be removed from keys/mailbox/ after.
    RotateMailbox,
    /// New SAML service-provider keys (signing and encryption) in keys/saml/; the current
    /// ones stay as the previous ones, which our metadata keeps naming and decryption keeps
    /// trying until the next rotation. Restart the instances, then update the registration
    /// at the identity provider (BundID's self-service) with the new metadata.
    RotateSaml {
        /// Seconds until the new signing key signs (the IdP must have the new metadata by
        /// then); the new encryption key is used by the IdP as soon as it reads it.
        #[arg(long = "activate-in-secs", default_value_t = 172_800)]
        activate_in_secs: u64,
    },
}

/// Runs a command.
///
/// # Errors
/// Any failure, for `main` to print and turn into an exit code.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            crate::telemetry::init("info,sqlx=warn");
            let app = Application::build(config.clone()).await?;
            tracing::info!(issuer = %config.issuer_str(), port = app.port(), "Bürgerkonto is listening");
            app.run_until_stopped().await
        }
        Command::Backup { to } => {
            crate::keyring::create_new_private_dir(&to).context("back up into a new folder")?;
            let db = Db::connect(config.database_url.expose()).await?;
            let database = to.join("buergerkonto.db");
            let copied_db = db
                .backup_to(&database)
                .await
                .context("copying the database")?;
            db.close().await;
            let keys = crate::keyring::copy_keys(&config.keys_dir, &to.join("keys"))?;
            println!(
                "{}",
                json!({
                    "folder": to,
                    "database": if copied_db { json!(database) } else {
                        json!("PostgreSQL: back it up with pg_dump (docs/operators.md#backups)")
                    },
                    "key_files": keys,
                })
            );
            Ok(())
        }
        Command::Migrate => {
            let db = Db::connect(config.database_url.expose()).await?;
            db.close().await;
            println!("{}", json!({ "migrated": true }));
            Ok(())
        }
        Command::Tenant {
            cmd: TenantCmd::Add { slug, name },
        } => {
            let slug = TenantSlug::parse(&slug).map_err(anyhow::Error::msg)?;
            if name.trim().is_empty() {
                bail!("--name must not be empty");
            }
            let db = Db::connect(config.database_url.expose()).await?;
            let t = match db.tenants().insert(&slug, name.trim()).await {
                Err(e) if e.is_conflict_on("slug") => {
                    bail!("a tenant with slug {slug} exists already")
                }
                other => other?,
            };
            println!("{}", json!({ "id": t.id, "slug": t.slug, "name": t.name }));
            Ok(())
        }
        Command::Tenant {
            cmd: TenantCmd::List,
        } => {
            let db = Db::connect(config.database_url.expose()).await?;
            let all: Vec<_> = db
                .tenants()
                .all()
                .await?
                .into_iter()
                .map(|t| {
                    json!({
                        "id": t.id,
                        "slug": t.slug,
                        "name": t.name,
                        "created_at": t.created_at,
                        "impressum_url": t.impressum_url,
                        "privacy_url": t.privacy_url,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(all));
            Ok(())
        }
        Command::Tenant {
            cmd:
                TenantCmd::Links {
                    slug,
                    impressum_url,
                    privacy_url,
                },
        } => {
            let link = |name: &str, v: &str| {
                crate::domain::net::public_link(v).map_err(|e| anyhow::anyhow!("--{name} {e}"))
            };
            let impressum = link("impressum-url", &impressum_url)?;
            let privacy = link("privacy-url", &privacy_url)?;
            let db = Db::connect(config.database_url.expose()).await?;
            let t = match db.tenants().by_slug(&slug).await {
                Err(crate::store::StoreError::NotFound) => bail!("no tenant with slug {slug}"),
                other => other?,
            };
            db.tenants()
                .set_links(t.id, impressum.as_deref(), privacy.as_deref())
                .await?;
            println!(
                "{}",
                json!({ "slug": t.slug, "impressum_url": impressum, "privacy_url": privacy })
            );
            Ok(())
        }
        Command::Tenant {
            cmd: TenantCmd::Manage(cmd),
        } => managed(&config, manage::Managed::Tenant(cmd)).await,
        Command::Client {
            cmd: ClientCmd::Manage(cmd),
        } => managed(&config, manage::Managed::Client(cmd)).await,
        Command::Topic { cmd } => managed(&config, manage::Managed::Topic(cmd)).await,
        Command::User {
            cmd: UserCmd::Manage(cmd),
        } => match manage::account_state(&config, &cmd).await? {
            Some(out) => {
                println!("{out}");
                Ok(())
            }
            None => managed(&config, manage::Managed::User(cmd)).await,
        },
        Command::Client { cmd } => add_client(&config, cmd).await,
        Command::Admin { cmd } => admin_roles(&config, cmd).await,
        Command::Process {
            cmd:
                ProcessCmd::Set {
                    id,
                    name,
                    level,
                    tenant,
                    upstream_required,
                },
        } => {
            let level = Loa::from_name(&level)
                .with_context(|| format!("unknown level {level} (low, substantial, high)"))?;
            let db = Db::connect(config.database_url.expose()).await?;
            let scope = match &tenant {
                None => ProcessScope::Verbund,
                Some(slug) => match db.tenants().by_slug(slug).await {
                    Err(crate::store::StoreError::NotFound) => bail!("unknown tenant {slug}"),
                    other => ProcessScope::Tenant(other?.id),
                },
            };
            let p = crate::catalogue::Catalogue::new(db)
                .set(&id, &name, (level, upstream_required), scope, "cli")
                .await?;
            println!(
                "{}",
                json!({ "id": p.id.as_str(), "name": p.name, "level": p.level.name(), "tenant": tenant, "upstream_required": p.upstream_required })
            );
            Ok(())
        }
        Command::User {
            cmd: UserCmd::Add {
                email,
                password_stdin,
            },
        } => {
            if !password_stdin {
                bail!("pass the password on standard input with --password-stdin");
            }
            let mut pw = String::new();
            std::io::stdin()
                .read_to_string(&mut pw)
                .context("reading the password from standard input")?;
            let pw = pw.trim_end_matches(['\n', '\r']);
            let services = Services::connect(&config).await?;
            let id = services.accounts.create_verified(&email, pw).await?;
            println!("{}", json!({ "id": id }));
            Ok(())
        }
        Command::User {
            cmd:
                UserCmd::VerifyIdentity {
                    email,
                    level,
                    document_type,
                    clerk,
                    given_name,
                    family_name,
                    birthdate,
                },
        } => {
            let level = Loa::from_name(&level)
                .filter(|l| *l > Loa::Low)
                .with_context(|| format!("level must be substantial or high, not {level}"))?;
            if document_type.trim().is_empty() || clerk.trim().is_empty() {
                bail!("--document-type and --clerk must not be empty");
            }
            let mut claims = Vec::new();
            for (name, value) in [
                ("given_name", given_name),
                ("family_name", family_name),
                ("birthdate", birthdate),
            ] {
                if let Some(v) = value {
                    let stored = crate::domain::claims::verified_claim(name, &json!(v))
                        .map_err(anyhow::Error::msg)?;
                    claims.push((name.to_owned(), stored));
                }
            }
            let services = Services::connect(&config).await?;
            let id = match services
                .accounts
                .verify_identity(
                    &email,
                    level,
                    document_type.trim(),
                    clerk.trim(),
                    &claims,
                    crate::account::factors::CheckedBy::default(),
                )
                .await
            {
                Err(crate::account::AccountError::InvalidEmail) => {
                    bail!("no account with the address {email}")
                }
                other => other?,
            };
            println!("{}", json!({ "id": id, "proofing_level": level.name() }));
            Ok(())
        }
        Command::Keys {
            cmd:
                KeysCmd::Rotate {
                    alg,
                    activate_in_secs,
                },
        } => {
            let alg = SigningAlg::parse(&alg)
                .with_context(|| format!("unsupported algorithm {alg} (RS256, ES256)"))?;
            let delay = chrono::Duration::seconds(i64::from(activate_in_secs));
            let (kid, activates_at) = Keyring::rotate(&config.keys_dir, alg, delay)?;
            println!(
                "{}",
                json!({ "kid": kid, "alg": alg.as_str(), "activates_at": activates_at })
            );
            Ok(())
        }
        Command::Keys {
            cmd: KeysCmd::RotateMailbox,
        } => {
            let services = Services::connect(&config).await?;
            let (key_id, rewrapped) = services.mailbox.rotate_master_key().await?;
            println!("{}", json!({ "key_id": key_id, "rewrapped": rewrapped }));
            Ok(())
        }
        Command::Keys {
            cmd: KeysCmd::RotateSaml { activate_in_secs },
        } => {
            crate::saml::keys::SpKeys::rotate(
                &config.keys_dir,
                &config.issuer_str(),
                std::time::Duration::from_secs(activate_in_secs),
            )?;
            let keys =
                crate::saml::keys::SpKeys::load_or_init(&config.keys_dir, &config.issuer_str())?;
            println!(
                "{}",
                json!({
                    "signing_certificate": keys.signing.cert_b64(),
                    "encryption_certificate": keys.encryption.cert_b64(),
                    "previous_kept": keys.previous_encryption.is_some(),
                    "signing_activates_at": keys.signing_activates_at,
                })
            );
            Ok(())
        }
        Command::Openapi => {
            println!("{}", crate::web::api::openapi::document());
            Ok(())
        }
    }
}

/// Runs a list/show/update/disable/delete command and prints its JSON.
async fn managed(config: &Config, cmd: manage::Managed) -> anyhow::Result<()> {
    let db = Db::connect(config.database_url.expose()).await?;
    let out = manage::run(&db, cmd, config).await;
    db.close().await;
    println!("{}", out?);
    Ok(())
}

async fn admin_roles(config: &Config, cmd: AdminCmd) -> anyhow::Result<()> {
    use crate::admin::{Actor, Admin, AdminError};
    let db = Db::connect(config.database_url.expose()).await?;
    let admin = Admin::new(db.clone());
    let actor = Actor::operator();
    let explain = |e: AdminError| match e {
        AdminError::NotFound => anyhow::anyhow!("no account with this e-mail address"),
        other => anyhow::Error::new(other),
    };
    match cmd {
        AdminCmd::Grant {
            email,
            role,
            tenant,
        } => {
            let grant = admin.parse_grant(&role, tenant.as_deref()).await?;
            let new = admin.grant(&actor, &email, grant).await.map_err(explain)?;
            println!(
                "{}",
                json!({ "email": email, "role": role, "tenant": tenant, "granted": new })
            );
        }
        AdminCmd::Revoke {
            email,
            role,
            tenant,
        } => {
            let grant = admin.parse_grant(&role, tenant.as_deref()).await?;
            let had = admin.revoke(&actor, &email, grant).await.map_err(explain)?;
            println!(
                "{}",
                json!({ "email": email, "role": role, "tenant": tenant, "revoked": had })
            );
        }
        AdminCmd::List => {
            let slugs: std::collections::HashMap<_, _> = db
                .tenants()
                .all()
                .await?
                .into_iter()
                .map(|t| (t.id, t.slug))
                .collect();
            let all: Vec<_> = admin
                .roles(&actor)
                .await?
                .into_iter()
                .map(|r| {
                    json!({
                        "email": r.email,
                        "role": r.grant.role,
                        "tenant": r.grant.tenant.and_then(|t| slugs.get(&t)),
                        "granted_at": r.granted_at,
                        "granted_by": r.granted_by,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(all));
        }
    }
    db.close().await;
    Ok(())
}

async fn add_client(config: &Config, cmd: ClientCmd) -> anyhow::Result<()> {
    let ClientCmd::Add {
        tenant,
        name,
        redirect_uris,
        post_logout_redirect_uris,
        public,
        grant_types,
        scopes,
        subject_type,
        id_token_alg,
        auth_method,
        jwks,
        jwks_uri,
        backchannel_logout_uri,
        default_level,
    } = cmd
    else {
        bail!("the other client commands are dispatched before");
    };
    let jwks = match jwks {
        None => None,
        Some(j) if j.trim_start().starts_with('{') => {
            Some(serde_json::from_str(&j).context("--jwks is not JSON")?)
        }
        Some(path) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?,
            )
            .context("--jwks file is not JSON")?,
        ),
    };
    let req = NewClient {
        name,
        redirect_uris,
        post_logout_redirect_uris,
        public,
        token_endpoint_auth_method: auth_method,
        grant_types,
        scopes,
        subject_type: Some(subject_type),
        id_token_signed_response_alg: Some(id_token_alg),
        jwks,
        jwks_uri,
        backchannel_logout_uri,
        default_level,
    };
    let db = Db::connect(config.database_url.expose()).await?;
    let tenant = match db.tenants().by_slug(&tenant).await {
        Err(crate::store::StoreError::NotFound) => bail!("unknown tenant {tenant}"),
        other => other?,
    };
    let (client, secret) = registry::register(tenant.id, req).map_err(anyhow::Error::msg)?;
    db.clients().insert(&client).await?;
    println!(
        "{}",
        json!({ "client_id": client.id, "client_secret": secret })
    );
    Ok(())
}
