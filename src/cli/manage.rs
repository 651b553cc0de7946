//! `list`, `show`, `update`, `disable`, `enable`, `delete` for tenants and clients, and
//! `list`/`show` for accounts: the operator's shell is a Verbund admin
//! ([`Actor::operator`]) and goes through the same administration service, rules and audit
//! as the console.

use crate::admin::clients::ClientChanges;
use crate::admin::json::{client_json, tenant_json};
use crate::admin::tenants::TenantChanges;
use crate::admin::{Actor, Admin, AdminError};
use crate::store::Db;
use anyhow::bail;
use clap::Subcommand;
use serde_json::{Value, json};

/// What the tenant commands beyond `add`, `list` and `links` do.
#[derive(Subcommand, Debug)]
pub enum TenantManage {
    /// Show one tenant as JSON.
    Show {
        #[arg(long)]
        slug: String,
    },
    /// Change a tenant's name and face; what is not given stays, an empty value clears.
    Update {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: Option<String>,
        /// #rrggbb with at least 4.5:1 against white.
        #[arg(long = "accent-color")]
        accent_color: Option<String>,
        #[arg(long = "support-contact")]
        support_contact: Option<String>,
        #[arg(long = "impressum-url")]
        impressum_url: Option<String>,
        #[arg(long = "privacy-url")]
        privacy_url: Option<String>,
    },
    /// Disable a tenant: its portals and systems are refused.
    Disable {
        #[arg(long)]
        slug: String,
    },
    /// Enable a disabled tenant again.
    Enable {
        #[arg(long)]
        slug: String,
    },
    /// Delete a tenant with its portals, processes and roles (not one whose systems sent
    /// messages: disable it).
    Delete {
        #[arg(long)]
        slug: String,
    },
}

/// What the client commands beyond `add` do.
#[derive(Subcommand, Debug)]
pub enum ClientManage {
    /// List clients (of one tenant) as a JSON array.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show one client as JSON.
    Show {
        /// (Client ids may begin with `-`.)
        #[arg(long, allow_hyphen_values = true)]
        id: String,
    },
    /// Change a client under the registration's rules; a list given replaces the list.
    Update {
        /// (Client ids may begin with `-`.)
        #[arg(long, allow_hyphen_values = true)]
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long = "subject-type")]
        subject_type: Option<String>,
        /// An empty value removes it.
        #[arg(long = "backchannel-logout-uri")]
        backchannel_logout_uri: Option<String>,
        /// low, substantial, high, or empty for none.
        #[arg(long = "default-level")]
        default_level: Option<String>,
    },
    /// A system's signed callbacks: where they go, what waits, what was given up.
    Callback {
        #[command(subcommand)]
        cmd: CallbackManage,
    },
    /// A new secret; the old one keeps working for the overlap.
    RotateSecret {
        /// (Client ids may begin with `-`.)
        #[arg(long, allow_hyphen_values = true)]
        id: String,
        #[arg(long = "overlap-hours", default_value_t = 24)]
        overlap_hours: u32,
    },
    /// Disable a client.
    Disable {
        /// (Client ids may begin with `-`.)
        #[arg(long, allow_hyphen_values = true)]
        id: String,
    },
    /// Enable a disabled client.
    Enable {
        /// (Client ids may begin with `-`.)
        #[arg(long, allow_hyphen_values = true)]
        id: String,
    },
    /// Delete a client with its consents and refresh tokens.
    Delete {
        /// (Client ids may begin with `-`.)
        #[arg(long, allow_hyphen_values = true)]
        id: String,
    },
}

/// What the account commands beyond `add` and `verify-identity` do.
#[derive(Subcommand, Debug)]
pub enum UserManage {
    /// List accounts by address as a JSON array, a page at a time.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Start after this address (the last one of the previous page).
        #[arg(long)]
        after: Option<String>,
    },
    /// Show one account with its roles and identity checks.
    Show {
        #[arg(long)]
        email: String,
    },
    /// Disable an account: every login refused, its sessions ended, its portals' refresh
    /// tokens revoked. Needs Redis (the server's sessions live there; without it use the
    /// admin API).
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account again.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Delete an account: disabled at once, erased by the server's next deletion round (the
    /// messages' evidence stays). Needs Redis, as `disable`.
    Delete {
        #[arg(long)]
        email: String,
    },
}

/// One of the managing commands.
pub enum Managed {
    Tenant(TenantManage),
    Client(ClientManage),
    Topic(TopicManage),
    User(UserManage),
}

/// Runs `user disable|enable|delete` with the server's services (Redis holds the sessions to
/// end); `None` when the command is not one of these.
///
/// # Errors
/// Without Redis, or what went wrong.
pub async fn account_state(
    config: &crate::config::Config,
    cmd: &UserManage,
) -> anyhow::Result<Option<Value>> {
    let (email, what) = match cmd {
        UserManage::Disable { email } => (email, "disable"),
        UserManage::Enable { email } => (email, "enable"),
        UserManage::Delete { email } => (email, "delete"),
        _ => return Ok(None),
    };
    if config.redis_url.is_none() && what != "enable" {
        bail!(
            "without Redis the server's sessions live in its own memory, which this command cannot reach: disable or delete the account through the admin API (POST /api/v1/admin/accounts/{{id}}/disable)"
        );
    }
    let services = crate::app::Services::connect(config).await?;
    let admin = Admin::serving(
        services.db.clone(),
        services.provider.clone(),
        services.accounts.clone(),
    );
    let actor = Actor::operator();
    let (account, _) = admin
        .account_by_email(&actor, email)
        .await
        .map_err(explain)?;
    let out = match what {
        "disable" => {
            admin
                .set_account_disabled(&actor, account.id, true)
                .await
                .map_err(explain)?;
            json!({ "email": email, "disabled": true })
        }
        "enable" => {
            admin
                .set_account_disabled(&actor, account.id, false)
                .await
                .map_err(explain)?;
            json!({ "email": email, "disabled": false })
        }
        _ => {
            let due = admin
                .delete_account(&actor, account.id)
                .await
                .map_err(explain)?;
            json!({ "email": email, "deletion_due": due })
        }
    };
    services.db.close().await;
    Ok(Some(out))
}

/// Runs a managing command; its JSON.
///
/// # Errors
/// What went wrong, for the exit code.
pub async fn run(db: &Db, cmd: Managed, config: &crate::config::Config) -> anyhow::Result<Value> {
    match cmd {
        Managed::Tenant(c) => tenant(db, c).await,
        Managed::Client(ClientManage::Callback { cmd }) => callback(db, cmd, config).await,
        Managed::Client(c) => client(db, c).await,
        Managed::Topic(c) => topic(db, c).await,
        Managed::User(c) => user(db, c).await,
    }
}

fn explain(e: AdminError) -> anyhow::Error {
    match e {
        AdminError::NotFound => anyhow::anyhow!("not found"),
        other => anyhow::Error::new(other),
    }
}

/// Runs a tenant command.
///
/// # Errors
/// What went wrong, for the exit code.
pub async fn tenant(db: &Db, cmd: TenantManage) -> anyhow::Result<Value> {
    let admin = Admin::new(db.clone());
    let actor = Actor::operator();
    Ok(match cmd {
        TenantManage::Show { slug } => {
            tenant_json(&admin.tenant(&actor, &slug).await.map_err(explain)?)
        }
        TenantManage::Update {
            slug,
            name,
            accent_color,
            support_contact,
            impressum_url,
            privacy_url,
        } => {
            let ch = TenantChanges {
                name,
                accent_color,
                support_contact,
                impressum_url,
                privacy_url,
            };
            tenant_json(
                &admin
                    .change_tenant(&actor, &slug, ch)
                    .await
                    .map_err(explain)?,
            )
        }
        TenantManage::Disable { slug } => {
            admin
                .set_tenant_disabled(&actor, &slug, true)
                .await
                .map_err(explain)?;
            json!({ "slug": slug, "disabled": true })
        }
        TenantManage::Enable { slug } => {
            admin
                .set_tenant_disabled(&actor, &slug, false)
                .await
                .map_err(explain)?;
            json!({ "slug": slug, "disabled": false })
        }
        TenantManage::Delete { slug } => {
            admin.delete_tenant(&actor, &slug).await.map_err(explain)?;
            json!({ "slug": slug, "deleted": true })
        }
    })
}

/// The `topic` commands.
#[derive(Subcommand, Debug)]
pub enum TopicManage {
    /// Add a contact topic; prints it as JSON.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        /// The tenant's authority system (scope mailbox.send) that receives the messages.
        #[arg(long, allow_hyphen_values = true)]
        client: String,
        /// low (default), substantial or high (at least the process's level).
        #[arg(long)]
        level: Option<String>,
        #[arg(long)]
        process: Option<String>,
    },
    /// List topics (of one tenant) as a JSON array.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Disable a topic: citizens no longer see it.
    Disable {
        #[arg(long)]
        id: uuid::Uuid,
    },
    /// Enable a disabled topic.
    Enable {
        #[arg(long)]
        id: uuid::Uuid,
    },
}

async fn topic(db: &Db, cmd: TopicManage) -> anyhow::Result<Value> {
    let admin = Admin::new(db.clone());
    let actor = Actor::operator();
    Ok(match cmd {
        TopicManage::Add {
            tenant,
            slug,
            name,
            client,
            level,
            process,
        } => serde_json::to_value(
            admin
                .create_topic(
                    &actor,
                    crate::admin::topics::NewTopic {
                        tenant,
                        slug,
                        name,
                        process,
                        client_id: client,
                        required_level: level,
                    },
                )
                .await
                .map_err(explain)?,
        )?,
        TopicManage::List { tenant } => serde_json::to_value(
            admin
                .topics(&actor, tenant.as_deref())
                .await
                .map_err(explain)?,
        )?,
        TopicManage::Disable { id } | TopicManage::Enable { id } => {
            let disabled = matches!(cmd, TopicManage::Disable { .. });
            admin
                .set_topic_disabled(&actor, id, disabled)
                .await
                .map_err(explain)?;
            json!({ "id": id, "disabled": disabled })
        }
    })
}

/// The `client callback` commands.
#[derive(Subcommand, Debug)]
pub enum CallbackManage {
    /// Set the callback URL. The secret (32 to 256 visible ASCII characters) is read from
    /// stdin with --secret-stdin; without it a first setting gets a generated secret (printed
    /// once) and a later one keeps the secret, unless --new-secret.
    Set {
        #[arg(long, allow_hyphen_values = true)]
        id: String,
        #[arg(long)]
        url: String,
        #[arg(long = "secret-stdin")]
        secret_stdin: bool,
        #[arg(long = "new-secret")]
        new_secret: bool,
    },
    /// Show the URL and the backlog (never the secret).
    Show {
        #[arg(long, allow_hyphen_values = true)]
        id: String,
    },
    /// Remove the callback URL and secret.
    Clear {
        #[arg(long, allow_hyphen_values = true)]
        id: String,
    },
    /// List deliveries: pending, delivered or dead (given up).
    List {
        #[arg(long, allow_hyphen_values = true)]
        id: String,
        #[arg(long, default_value = "dead")]
        state: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Re-queue a given-up delivery.
    Redeliver {
        #[arg(long, allow_hyphen_values = true)]
        id: String,
        #[arg(long)]
        event: uuid::Uuid,
    },
}

async fn callback(
    db: &Db,
    cmd: CallbackManage,
    config: &crate::config::Config,
) -> anyhow::Result<Value> {
    let keys = crate::keyring::mailbox::MasterKeys::load_existing(&config.keys_dir)?;
    let admin = Admin::new(db.clone())
        .with_callbacks(std::sync::Arc::new(keys), config.callbacks.allow_http);
    let actor = Actor::operator();
    Ok(match cmd {
        CallbackManage::Set {
            id,
            url,
            secret_stdin,
            new_secret,
        } => {
            let secret = if secret_stdin {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                Some(s.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let generated = admin
                .set_callback(&actor, &id, &url, secret.as_deref(), new_secret)
                .await
                .map_err(explain)?;
            let target = admin.callback(&actor, &id).await.map_err(explain)?;
            let mut out = serde_json::to_value(target)?;
            if let Some(s) = generated {
                out["secret"] = s.into();
            }
            out
        }
        CallbackManage::Show { id } => match admin.callback(&actor, &id).await.map_err(explain)? {
            Some(t) => serde_json::to_value(t)?,
            None => bail!("this client has no callback URL"),
        },
        CallbackManage::Clear { id } => {
            admin.clear_callback(&actor, &id).await.map_err(explain)?;
            json!({ "client_id": id, "callback": null })
        }
        CallbackManage::List { id, state, limit } => serde_json::to_value(
            admin
                .callback_deliveries(&actor, &id, &state, limit)
                .await
                .map_err(explain)?,
        )?,
        CallbackManage::Redeliver { id, event } => {
            admin
                .redeliver_callback(&actor, &id, event)
                .await
                .map_err(explain)?;
            json!({ "event": event, "state": "pending" })
        }
    })
}

/// Runs a client command.
///
/// # Errors
/// What went wrong, for the exit code.
pub async fn client(db: &Db, cmd: ClientManage) -> anyhow::Result<Value> {
    let admin = Admin::new(db.clone());
    let actor = Actor::operator();
    Ok(match cmd {
        ClientManage::List { tenant } => Value::Array(
            admin
                .clients(&actor, tenant.as_deref())
                .await
                .map_err(explain)?
                .iter()
                .flat_map(|(_, cs)| cs.iter().map(client_json))
                .collect(),
        ),
        ClientManage::Show { id } => {
            client_json(&admin.client(&actor, &id).await.map_err(explain)?)
        }
        ClientManage::Update {
            id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            subject_type,
            backchannel_logout_uri,
            default_level,
        } => {
            // A list given on the command line replaces the list (an empty value: none).
            let list = |v: Vec<String>| {
                (!v.is_empty()).then(|| v.into_iter().filter(|s| !s.is_empty()).collect())
            };
            let ch = ClientChanges {
                name,
                redirect_uris: list(redirect_uris),
                post_logout_redirect_uris: list(post_logout_redirect_uris),
                grant_types: list(grant_types),
                scopes: list(scopes),
                subject_type,
                backchannel_logout_uri,
                default_level,
            };
            client_json(
                &admin
                    .change_client(&actor, &id, ch)
                    .await
                    .map_err(explain)?,
            )
        }
        ClientManage::RotateSecret { id, overlap_hours } => {
            let secret = admin
                .rotate_secret(&actor, &id, overlap_hours)
                .await
                .map_err(explain)?;
            json!({ "client_id": id, "client_secret": secret, "overlap_hours": overlap_hours })
        }
        ClientManage::Disable { id } => {
            admin
                .set_client_disabled(&actor, &id, true)
                .await
                .map_err(explain)?;
            json!({ "client_id": id, "disabled": true })
        }
        ClientManage::Enable { id } => {
            admin
                .set_client_disabled(&actor, &id, false)
                .await
                .map_err(explain)?;
            json!({ "client_id": id, "disabled": false })
        }
        ClientManage::Callback { .. } => bail!("callback commands run through manage::run"),
        ClientManage::Delete { id } => {
            admin.delete_client(&actor, &id).await.map_err(explain)?;
            json!({ "client_id": id, "deleted": true })
        }
    })
}

/// Runs an account command.
///
/// # Errors
/// What went wrong, for the exit code.
pub async fn user(db: &Db, cmd: UserManage) -> anyhow::Result<Value> {
    let admin = Admin::new(db.clone());
    let actor = Actor::operator();
    Ok(match cmd {
        UserManage::List { limit, after } => {
            if limit == 0 || limit > 1000 {
                bail!("--limit is 1 to 1000");
            }
            Value::Array(
                admin
                    .accounts_page(&actor, after.as_deref(), i64::from(limit))
                    .await
                    .map_err(explain)?
                    .iter()
                    .map(|a| {
                        json!({
                            "id": a.id,
                            "email": a.email.as_str(),
                            "email_verified": a.email_verified,
                            "proofing_level": a.proofing.name(),
                            "created_at": a.created_at,
                        })
                    })
                    .collect(),
            )
        }
        UserManage::Disable { .. } | UserManage::Enable { .. } | UserManage::Delete { .. } => {
            bail!("run through account_state")
        }
        UserManage::Show { email } => {
            let (a, grants, proofings) = admin.account(&actor, &email).await.map_err(explain)?;
            let (_, disabled) = admin
                .account_by_email(&actor, &email)
                .await
                .map_err(explain)?;
            json!({
                "id": a.id,
                "email": a.email.as_str(),
                "email_verified": a.email_verified,
                "proofing_level": a.proofing.name(),
                "created_at": a.created_at,
                "disabled": disabled,
                "roles": grants.0,
                "identity_checks": proofings.iter().map(|p| json!({
                    "at": p.at, "level": p.level, "method": p.method,
                    "document_type": p.document_type, "verified_by": p.verified_by,
                })).collect::<Vec<_>>(),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[test]
    fn client_ids_that_begin_with_a_hyphen_are_values() {
        for cmd in [
            "show",
            "disable",
            "enable",
            "delete",
            "update",
            "rotate-secret",
        ] {
            let parsed =
                crate::cli::Cli::try_parse_from(["buergerkonto", "client", cmd, "--id", "-Ab_c"]);
            assert!(parsed.is_ok(), "{cmd}: {:?}", parsed.err());
        }
    }
}
