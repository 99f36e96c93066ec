//! A reference HTTP service over the engine (axum), modeled on Bitrix24's
//! `crm.deal.recurring.*` REST methods, with the run loop inside.
//!
//! ```text
//! cargo run --release --features sqlite --example service -- --db deals.db --listen 127.0.0.1:8080
//! cargo run --release --features postgres --example service -- --pg postgres://postgres@127.0.0.1/deals --listen 127.0.0.1:8080
//! cargo run --release --features sqlite --example service -- --db deals.db --nats nats://127.0.0.1:4222
//! ```
//!
//! The outbox goes to standard output (a JSON line per event), or with `--nats` into a NATS
//! JetStream stream, each event once (its idempotency key is the message id).
//!
//! Routes (JSON bodies in the crate's documented serde forms):
//!
//! * `POST /v1/tenants/{tenant}/templates`: a template draft (as in `examples/templates.json`)
//!   → 201 and the template (its `id`, `state`, `next_run`, ...)
//! * `GET /v1/tenants/{tenant}/templates?state=&limit=&cursor=` → `{"items": [...],
//!   "total": N, "next_cursor": "..." | null}`
//! * `GET | PATCH | DELETE /v1/tenants/{tenant}/templates/{id}`; PATCH takes one change:
//!   `{"schedule": <schedule>}`, `{"deal": <deal>}`, `{"pause": {"note": "...",
//!   "resume_on": "YYYY-MM-DD" | null}}`, `"resume"`, `"activate"` or `"deactivate"`
//! * `POST /v1/tenants/{tenant}/templates/{id}/expose` → 201 and the deal created now
//! * `GET /v1/tenants/{tenant}/templates/{id}/preview?count=N` → the next N deals
//! * `GET /v1/tenants/{tenant}/deals?template={id}&limit=&cursor=` → a page of deals
//! * `GET /v1/tenants/{tenant}/invoices/overdue?limit=&cursor=` → a page of the tenant's
//!   overdue invoices, longest overdue first
//! * `GET | PATCH /v1/tenants/{tenant}/invoices/{deal}` (`{deal}` a deal key such as
//!   `T12/r0/3`, slashes and all) → the invoice with its history; PATCH takes
//!   `{"status": "paid" | "voided" | "open"}`
//! * `GET /v1/tenants/{tenant}/dead-letters?limit=&cursor=` → a page of the tenant's dead
//!   letters (events the outbox handler refused `max_attempts` times), oldest first, each
//!   with its attempts and last error
//! * `POST /v1/tenants/{tenant}/dead-letters/requeue` with `{"ids": [..]}` (at most 1,000)
//!   → `{"requeued": N}`: back in the outbox, handed over again at once
//! * `GET /healthz` → the runner's status
//!
//! Errors: malformed JSON → 400; valid JSON with an invalid value → 422 with
//! `{"field": ..., "reason": ...}`; a template that is absent or another tenant's → 404; a
//! finished template or a lost race → 409; the store unavailable → 503. Nothing is written
//! on any error. Cursors are opaque (a keyset position in the listing order). Outbox events
//! are delivered by the runner to standard output, one JSON line each.

use std::error::Error;
use std::net::SocketAddr;
#[cfg(feature = "sqlite")]
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Parser;
use recurring_deals::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The recurring deals reference service.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Keep the state in the SQLite file at PATH (feature `sqlite`).
    #[cfg(feature = "sqlite")]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Keep the state in the PostgreSQL database at URL (feature `postgres`).
    #[cfg(feature = "postgres")]
    #[arg(long, value_name = "URL")]
    pg: Option<String>,
    /// The address to listen on; port 0 picks a free port. The address is printed first.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Deliver the outbox into NATS JetStream at URL (e.g. `nats://127.0.0.1:4222`) instead
    /// of printing it: one message per event on `<subject>.<type>`, its idempotency key
    /// as `Nats-Msg-Id`, so the stream drops a re-delivery within its duplicate window.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// The JetStream stream to deliver into (created when missing, capturing
    /// `<subject>.>`, with a two-minute duplicate window).
    #[arg(long, value_name = "NAME", default_value = "RECURRING_DEALS")]
    stream: String,
    /// The subjects' first token: events go to `<subject>.<type>`.
    #[arg(long, value_name = "TOKEN", default_value = "recurring_deals")]
    subject: String,
    /// Refusals of one event (the bus down, say) after which it becomes a dead letter,
    /// listed and requeued under `/v1/tenants/{tenant}/dead-letters`.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_attempts: u32,
}

type Shared = Arc<Engine<DynRepository, SystemClock>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let stop_requested = stop_requested();
    let store = open_store(&args).await?;
    let engine: Shared = Arc::new(Engine::new(store, SystemClock));
    let mut config = RunnerConfig::default();
    config.max_attempts = args.max_attempts;
    let runner = Runner::new(Arc::clone(&engine), config);
    let status = runner.status();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let run = match &args.nats {
        Some(url) => {
            let bus = JetStreamBus::connect(url, &args.stream, &args.subject).await?;
            println!("delivering into JetStream stream {} at {url}", args.stream);
            tokio::spawn(runner.run(bus, shutdown))
        }
        None => tokio::spawn(runner.run(deliver, shutdown)),
    };
    let app = router(engine, status);
    let mut on_stop = stopped;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop_requested.await;
            let _ = stop.send(true);
            let _ = on_stop.wait_for(|stop| *stop).await;
        })
        .await?;
    run.await??;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what orchestrators send before killing): the service stops taking
/// requests, finishes the runner's work in flight and exits with success. SIGTERM is
/// watched from the call on (before the future is first polled), so one sent during
/// start-up is not lost.
fn stop_requested() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        #[cfg(unix)]
        match terminate {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(error) => {
                eprintln!("SIGTERM cannot be watched ({error}); stopping on Ctrl-C only");
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The runner's delivery into NATS JetStream: each event as JSON on
/// `<subject>.<type>` (`deal_created`, `invoice_issued`, ...), the tenant in a
/// `Recurring-Deals-Tenant` header and the idempotency key as `Nats-Msg-Id`. A batch is
/// published at once and its acknowledgements awaited together; an event counts as delivered
/// when the stream acknowledged it (stored, or dropped as a duplicate of one stored within
/// the duplicate window), so a re-delivery after a crash within that window (two minutes)
/// lands in the stream once.
struct JetStreamBus {
    jetstream: async_nats::jetstream::Context,
    subject: String,
}

impl JetStreamBus {
    async fn connect(
        url: &str,
        stream: &str,
        subject: &str,
    ) -> Result<JetStreamBus, Box<dyn Error>> {
        let client = async_nats::connect(url).await?;
        let jetstream = async_nats::jetstream::new(client);
        jetstream
            .get_or_create_stream(async_nats::jetstream::stream::Config {
                name: stream.to_owned(),
                subjects: vec![format!("{subject}.>")],
                duplicate_window: std::time::Duration::from_secs(120),
                ..Default::default()
            })
            .await?;
        Ok(JetStreamBus {
            jetstream,
            subject: subject.to_owned(),
        })
    }

    /// Sends `event`; the future resolves when the stream acknowledges it.
    async fn send(
        &self,
        event: &OutboxEvent,
    ) -> Result<async_nats::jetstream::context::PublishAckFuture, Box<dyn Error + Send + Sync>>
    {
        let body = serde_json::to_value(event)?;
        let kind = body
            .get("kind")
            .and_then(|kind| kind.get("type"))
            .and_then(|kind| kind.as_str())
            .unwrap_or("event")
            .to_owned();
        let message = async_nats::jetstream::message::PublishMessage::build()
            .payload(serde_json::to_vec(&body)?.into())
            .message_id(&event.idempotency_key)
            .header("Recurring-Deals-Tenant", event.tenant.as_str());
        Ok(self
            .jetstream
            .send_publish(format!("{}.{kind}", self.subject), message)
            .await?)
    }
}

impl OutboxHandler for JetStreamBus {
    type Error = Box<dyn Error + Send + Sync>;

    async fn handle(&self, event: OutboxEvent) -> Result<(), Self::Error> {
        self.send(&event).await?.await?;
        Ok(())
    }

    async fn handle_batch(&self, events: &[OutboxEvent]) -> Vec<Handed<Self::Error>> {
        // Publish the batch, stopping a tenant at its first failure (its later events are
        // not tried, so the stream keeps the tenant's order), then await the stream's
        // acknowledgements together: each has its own timeout, which then runs at once.
        let mut handed: Vec<Handed<Self::Error>> = Vec::with_capacity(events.len());
        let mut acks = tokio::task::JoinSet::new();
        let mut stopped: Vec<&TenantId> = Vec::new();
        for (index, event) in events.iter().enumerate() {
            if stopped.contains(&&event.tenant) {
                handed.push(Handed::NotTried);
                continue;
            }
            match self.send(event).await {
                Ok(ack) => {
                    handed.push(Handed::Delivered);
                    acks.spawn(async move { (index, ack.await) });
                }
                Err(error) => {
                    stopped.push(&event.tenant);
                    handed.push(Handed::Refused(error));
                }
            }
        }
        while let Some(joined) = acks.join_next().await {
            match joined {
                Ok((_, Ok(_))) => {}
                Ok((index, Err(error))) => handed[index] = Handed::Refused(error.into()),
                Err(error) => {
                    // A panicked or aborted task: which event is unknown, so none counts.
                    for entry in &mut handed {
                        if matches!(entry, Handed::Delivered) {
                            *entry = Handed::NotTried;
                        }
                    }
                    eprintln!("a JetStream acknowledgement task failed: {error}");
                }
            }
        }
        handed
    }
}

/// The runner's delivery: one JSON line per outbox event on standard output.
async fn deliver(event: OutboxEvent) -> Result<(), serde_json::Error> {
    println!("{}", serde_json::to_string(&event)?);
    Ok(())
}

async fn open_store(args: &Args) -> Result<DynRepository, RepositoryError> {
    #[cfg(feature = "postgres")]
    if let Some(url) = &args.pg {
        return Ok(DynRepository::new(
            store::PostgresStore::connect(url).await?,
        ));
    }
    #[cfg(feature = "sqlite")]
    if let Some(path) = &args.db {
        return Ok(DynRepository::new(store::SqliteStore::connect(path).await?));
    }
    let _ = args;
    Ok(DynRepository::new(InMemoryRepository::new()))
}

fn router(engine: Shared, status: tokio::sync::watch::Receiver<RunnerStatus>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/v1/tenants/{tenant}/templates",
            post(create_template).get(list_templates),
        )
        .route(
            "/v1/tenants/{tenant}/templates/{id}",
            get(get_template)
                .patch(patch_template)
                .delete(delete_template),
        )
        .route("/v1/tenants/{tenant}/templates/{id}/expose", post(expose))
        .route("/v1/tenants/{tenant}/templates/{id}/preview", get(preview))
        .route("/v1/tenants/{tenant}/deals", get(list_deals))
        .route(
            "/v1/tenants/{tenant}/invoices/overdue",
            get(overdue_invoices),
        )
        .route(
            "/v1/tenants/{tenant}/invoices/{*deal}",
            get(get_invoice).patch(patch_invoice),
        )
        .route("/v1/tenants/{tenant}/dead-letters", get(list_dead_letters))
        .route(
            "/v1/tenants/{tenant}/dead-letters/requeue",
            post(requeue_dead_letters),
        )
        .with_state(AppState { engine, status })
}

#[derive(Clone)]
struct AppState {
    engine: Shared,
    status: tokio::sync::watch::Receiver<RunnerStatus>,
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

async fn healthz(State(state): State<AppState>) -> Response {
    let status = state.status.borrow().clone();
    // Healthy while a tick completed within three of the runner's longest sleeps: a worker
    // stuck in a store call, or failing every tick, fails the check.
    let ok = status.is_healthy(
        state.engine.clock().now(),
        RunnerConfig::default().max_sleep * 3,
    );
    let body = serde_json::json!({
        "ok": ok,
        "ticks": status.ticks,
        "delivered": status.delivered,
        "tick_errors": status.tick_errors,
        "sleeping_until": status.sleeping_until,
        "last_tick_at": status.last_tick_at,
        "last_delivery_at": status.last_delivery_at,
        "handler_failures": status.handler_failures,
        "dead_letters": status.dead_letters,
        "oldest_waiting": status.oldest_waiting,
        "last_error": status.last_error.as_ref().map(|(at, error)| {
            serde_json::json!({"at": at, "error": error})
        }),
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn create_template(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&tenant)?;
    let draft: TemplateDraft = json_body(&body)?;
    let template = state.engine.create_template(&tenant, draft).await?;
    Ok((StatusCode::CREATED, axum::Json(TemplateView::of(&template))).into_response())
}

#[derive(Deserialize)]
struct ListParams {
    state: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_templates(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&tenant)?;
    let filter = match params.state.as_deref() {
        None | Some("") => None,
        Some(name) => Some(
            serde_json::from_value::<StateFilter>(serde_json::Value::String(name.into())).map_err(
                |_| {
                    ApiError::invalid(
                        "state",
                        format!(
                            "unknown state {name:?}: expected active, paused, inactive or finished"
                        ),
                    )
                },
            )?,
        ),
    };
    let limit = page_limit(params.limit.as_deref())?;
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(TemplateCursor::decode(cursor)?.0),
    };
    let query = TemplateQuery {
        state: filter,
        after,
        limit,
        ..TemplateQuery::default()
    };
    let page = state.engine.list(&tenant, &query).await?;
    let next_cursor = (page.items.len() == limit)
        .then(|| {
            page.items
                .last()
                .map(|t| TemplateCursor(ListPosition::of(t)).encode())
        })
        .flatten();
    let body = serde_json::json!({
        "items": page.items.iter().map(TemplateView::of).collect::<Vec<_>>(),
        "total": page.total,
        "next_cursor": next_cursor,
    });
    Ok(axum::Json(body).into_response())
}

async fn get_template(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (tenant, id) = (tenant_id(&tenant)?, template_id(&id)?);
    let template = state.engine.template(&tenant, id).await?;
    Ok(axum::Json(TemplateView::of(&template)).into_response())
}

/// A template change as sent: a body of the wrong JSON type is refused naming the changes.
#[derive(Deserialize)]
struct PatchBody(#[serde(deserialize_with = "recurring_deals::json_enum::tagged")] Patch);

/// One change of a template.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Patch {
    Schedule(Box<Schedule>),
    Deal(Box<Deal>),
    Pause {
        #[serde(default)]
        note: String,
        #[serde(default)]
        resume_on: Option<NaiveDate>,
    },
    Resume,
    Activate,
    Deactivate,
}

async fn patch_template(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (tenant, id) = (tenant_id(&tenant)?, template_id(&id)?);
    let PatchBody(patch) = json_body(&body)?;
    let engine = &state.engine;
    let template = match patch {
        Patch::Schedule(schedule) => engine.edit_schedule(&tenant, id, *schedule).await?,
        Patch::Deal(deal) => engine.edit_deal(&tenant, id, *deal).await?,
        Patch::Pause { note, resume_on } => engine.pause(&tenant, id, &note, resume_on).await?,
        Patch::Resume => engine.resume(&tenant, id).await?,
        Patch::Activate => engine.activate(&tenant, id).await?,
        Patch::Deactivate => engine.deactivate(&tenant, id).await?,
    };
    Ok(axum::Json(TemplateView::of(&template)).into_response())
}

async fn delete_template(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (tenant, id) = (tenant_id(&tenant)?, template_id(&id)?);
    state.engine.delete(&tenant, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn expose(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (tenant, id) = (tenant_id(&tenant)?, template_id(&id)?);
    let deal = state.engine.create_now(&tenant, id).await?;
    Ok((StatusCode::CREATED, axum::Json(DealView::of(&deal))).into_response())
}

#[derive(Deserialize)]
struct PreviewParams {
    count: Option<String>,
}

async fn preview(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    Query(params): Query<PreviewParams>,
) -> Result<Response, ApiError> {
    let (tenant, id) = (tenant_id(&tenant)?, template_id(&id)?);
    let max = state.engine.config().max_preview();
    let count = match params.count.as_deref() {
        None => 10,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "count",
                    format!("must be a whole number 1 ..= {max}, got {text:?}"),
                )
            })?,
    };
    let deals = state.engine.preview(&tenant, id, count).await?;
    Ok(axum::Json(serde_json::json!({ "items": deals })).into_response())
}

#[derive(Deserialize)]
struct DealParams {
    template: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_deals(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(params): Query<DealParams>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&tenant)?;
    let template = match params.template.as_deref() {
        None | Some("") => None,
        Some(id) => Some(template_id(id).map_err(|_| {
            ApiError::invalid(
                "template",
                format!("invalid template id {id:?}: expected T<n> or <n>"),
            )
        })?),
    };
    let limit = page_limit(params.limit.as_deref())?;
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(DealCursor::decode(cursor)?),
    };
    // The store lists a tenant's deals by template, nominal instant and key: the cursor is a
    // place in that order.
    let deals = state.engine.deals(&tenant, template).await?;
    let items: Vec<&CreatedDeal> = deals
        .iter()
        .filter(|d| {
            after
                .as_ref()
                .is_none_or(|after| DealCursor::of(d) > *after)
        })
        .take(limit)
        .collect();
    let next_cursor = (items.len() == limit)
        .then(|| items.last().map(|d| DealCursor::of(d).encode()))
        .flatten();
    let body = serde_json::json!({
        "items": items.iter().map(|d| DealView::of(d)).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    });
    Ok(axum::Json(body).into_response())
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// A template as the API shows it.
#[derive(Serialize)]
struct TemplateView {
    id: String,
    tenant: String,
    version: u64,
    state: TemplateState,
    next_run: Option<DateTime<Utc>>,
    last_run: Option<DateTime<Utc>>,
    description: String,
    limit: Option<u64>,
    counters: Counters,
    deal: Deal,
    schedule: Schedule,
    failure: Option<Failure>,
}

impl TemplateView {
    fn of(template: &Template) -> TemplateView {
        TemplateView {
            id: template.id().to_string(),
            tenant: template.tenant().to_string(),
            version: template.version(),
            state: template.state().clone(),
            next_run: template.next_run(),
            last_run: template.last_run(),
            description: template.schedule().describe(Locale::En),
            limit: template.limit(),
            counters: template.counters(),
            deal: template.deal().clone(),
            schedule: template.schedule().clone(),
            failure: template.failure().cloned(),
        }
    }
}

/// A created deal as the API shows it.
#[derive(Serialize)]
struct DealView<'a> {
    key: String,
    template: String,
    nominal_date: NaiveDate,
    nominal_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    catch_up: bool,
    deal: &'a Deal,
}

impl DealView<'_> {
    fn of(deal: &CreatedDeal) -> DealView<'_> {
        DealView {
            key: deal.key.to_string(),
            template: deal.key.template().to_string(),
            nominal_date: deal.nominal_date,
            nominal_at: deal.nominal_at,
            created_at: deal.created_at,
            catch_up: deal.catch_up,
            deal: &deal.deal,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

/// The largest page.
const MAX_PAGE: usize = 500;

#[derive(Deserialize)]
struct PageParams {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn overdue_invoices(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&tenant)?;
    let limit = page_limit(params.limit.as_deref())?;
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(overdue_cursor(cursor)?),
    };
    let items = state.engine.overdue_invoices(&tenant, after, limit).await?;
    let next_cursor = (items.len() == limit)
        .then(|| items.last().and_then(OverduePosition::of))
        .flatten()
        .map(|place| {
            let nanos = place
                .overdue_since
                .timestamp_nanos_opt()
                .unwrap_or(i64::MAX);
            hex(&format!("o:{nanos}:{}", place.deal))
        });
    let body = serde_json::json!({ "items": items, "next_cursor": next_cursor });
    Ok(axum::Json(body).into_response())
}

fn overdue_cursor(text: &str) -> Result<OverduePosition, ApiError> {
    let bad = || ApiError::invalid("cursor", format!("not a cursor of this listing: {text:?}"));
    let plain = unhex(text).ok_or_else(bad)?;
    let mut parts = plain.splitn(3, ':');
    let (Some("o"), Some(nanos), Some(deal)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    Ok(OverduePosition {
        overdue_since: DateTime::from_timestamp_nanos(nanos.parse().map_err(|_| bad())?),
        deal: deal.parse().map_err(|_| bad())?,
    })
}

fn deal_key(text: &str) -> Result<DealKey, ApiError> {
    text.parse()
        .map_err(|error: ValidationError| ApiError::invalid("deal", error.to_string()))
}

async fn get_invoice(
    State(state): State<AppState>,
    Path((tenant, deal)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (tenant, deal) = (tenant_id(&tenant)?, deal_key(&deal)?);
    let invoice = state.engine.invoice(&tenant, deal).await?;
    Ok(axum::Json(invoice).into_response())
}

/// A change of an invoice: its status, as the host's payment records say.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoicePatch {
    #[serde(deserialize_with = "recurring_deals::json_enum::tagged")]
    status: InvoiceStatus,
}

async fn patch_invoice(
    State(state): State<AppState>,
    Path((tenant, deal)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (tenant, deal) = (tenant_id(&tenant)?, deal_key(&deal)?);
    let patch: InvoicePatch = json_body(&body)?;
    let invoice = state
        .engine
        .set_invoice_status(&tenant, deal, patch.status)
        .await?;
    Ok(axum::Json(invoice).into_response())
}

async fn list_dead_letters(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&tenant)?;
    let limit = page_limit(params.limit.as_deref())?;
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(
            unhex(cursor)
                .and_then(|plain| plain.strip_prefix("d:")?.parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "cursor",
                        format!("not a cursor of this listing: {cursor:?}"),
                    )
                })?,
        ),
    };
    let items = state.engine.dead_letters(&tenant, after, limit).await?;
    let next_cursor = (items.len() == limit)
        .then(|| {
            items
                .last()
                .map(|letter| hex(&format!("d:{}", letter.event.id)))
        })
        .flatten();
    let body = serde_json::json!({ "items": items, "next_cursor": next_cursor });
    Ok(axum::Json(body).into_response())
}

/// The body of `POST …/dead-letters/requeue`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Requeue {
    ids: Vec<u64>,
}

/// The most ids one requeue takes.
const MAX_REQUEUE: usize = 1_000;

async fn requeue_dead_letters(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&tenant)?;
    let requeue: Requeue = json_body(&body)?;
    if requeue.ids.len() > MAX_REQUEUE {
        return Err(ApiError::invalid(
            "ids",
            format!(
                "at most {MAX_REQUEUE} ids per request, got {}",
                requeue.ids.len()
            ),
        ));
    }
    let requeued = state
        .engine
        .requeue_dead_letters(&tenant, &requeue.ids)
        .await?;
    Ok(axum::Json(serde_json::json!({ "requeued": requeued })).into_response())
}

fn page_limit(text: Option<&str>) -> Result<usize, ApiError> {
    match text {
        None | Some("") => Ok(50),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("must be a whole number 1 ..= {MAX_PAGE}, got {text:?}"),
                )
            }),
    }
}

fn tenant_id(text: &str) -> Result<TenantId, ApiError> {
    TenantId::new(text).map_err(|e| ApiError::invalid("tenant", e.to_string()))
}

/// `T12` or `12`. An id that cannot name a template names none: 404, as an absent one.
fn template_id(text: &str) -> Result<TemplateId, ApiError> {
    text.strip_prefix('T')
        .unwrap_or(text)
        .parse::<u64>()
        .map(TemplateId)
        .map_err(|_| ApiError::NotFound(format!("no template {text:?}")))
}

/// A JSON body: 400 when it is not JSON, 422 naming the field when a value is refused.
fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(ApiError::Malformed(format!(
            "the body is not JSON: {error}"
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        let reason = error.into_inner().to_string();
        ApiError::Invalid {
            field: if field == "." { String::new() } else { field },
            reason,
        }
    })
}

/// A keyset position in the template listing, opaque to clients.
struct TemplateCursor(ListPosition);

impl TemplateCursor {
    fn encode(&self) -> String {
        let next = self.0.next_run.map_or_else(
            || "-".to_owned(),
            |t| t.timestamp_nanos_opt().unwrap_or(i64::MAX).to_string(),
        );
        hex(&format!("t:{next}:{}", self.0.id.0))
    }

    fn decode(text: &str) -> Result<TemplateCursor, ApiError> {
        let bad = || ApiError::invalid("cursor", format!("not a cursor of this listing: {text:?}"));
        let plain = unhex(text).ok_or_else(bad)?;
        let mut parts = plain.split(':');
        let (Some("t"), Some(next), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let next_run = match next {
            "-" => None,
            nanos => Some(DateTime::from_timestamp_nanos(
                nanos.parse().map_err(|_| bad())?,
            )),
        };
        let id = TemplateId(id.parse().map_err(|_| bad())?);
        Ok(TemplateCursor(ListPosition { next_run, id }))
    }
}

/// A keyset position in the deal listing (template, nominal instant, key), opaque to
/// clients.
#[derive(PartialEq, PartialOrd)]
struct DealCursor {
    template: u64,
    nominal_nanos: i64,
    key: String,
}

impl DealCursor {
    fn of(deal: &CreatedDeal) -> DealCursor {
        DealCursor {
            template: deal.key.template().0,
            nominal_nanos: deal.nominal_at.timestamp_nanos_opt().unwrap_or(i64::MAX),
            key: deal.key.to_string(),
        }
    }

    fn encode(&self) -> String {
        hex(&format!(
            "d:{}:{}:{}",
            self.template, self.nominal_nanos, self.key
        ))
    }

    fn decode(text: &str) -> Result<DealCursor, ApiError> {
        let bad = || ApiError::invalid("cursor", format!("not a cursor of this listing: {text:?}"));
        let plain = unhex(text).ok_or_else(bad)?;
        let mut parts = plain.splitn(4, ':');
        let (Some("d"), Some(template), Some(nanos), Some(key)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(DealCursor {
            template: template.parse().map_err(|_| bad())?,
            nominal_nanos: nanos.parse().map_err(|_| bad())?,
            key: key.to_owned(),
        })
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) || text.len() > 512 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What a request can fail with, and its status.
enum ApiError {
    /// 400: the body is not JSON.
    Malformed(String),
    /// 422: a value refused.
    Invalid { field: String, reason: String },
    /// 404.
    NotFound(String),
    /// 409: the template cannot change now (finished, already processed, a lost race).
    Conflict(String),
    /// 503: the store is unavailable; try again.
    Unavailable(String),
    /// 500.
    Internal(String),
}

impl ApiError {
    fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        let text = error.to_string();
        match error {
            EngineError::UnknownTemplate { .. } | EngineError::UnknownInvoice { .. } => {
                ApiError::NotFound(text)
            }
            EngineError::Finished(_)
            | EngineError::AlreadyProcessed { .. }
            | EngineError::Conflict(_)
            | EngineError::Behind(_) => ApiError::Conflict(text),
            EngineError::PreviewTooLong { .. } => ApiError::invalid("count", text),
            EngineError::TenantLimit { .. } => ApiError::invalid("tenant", text),
            EngineError::NoSuchOccurrence { .. } => ApiError::invalid("seq", text),
            EngineError::Schedule(source) => ApiError::invalid("schedule", source.to_string()),
            EngineError::Invalid(invalid) => match invalid {
                ValidationError::InvalidTenant(_) => ApiError::invalid("tenant", text),
                ValidationError::InvalidCurrency(_) | ValidationError::CurrencyMismatch { .. } => {
                    ApiError::invalid("deal.amount.currency", text)
                }
                ValidationError::OffsetOutOfRange { what, .. } => ApiError::invalid(what, text),
                ValidationError::SplitShares { .. } => ApiError::invalid("split", text),
                ValidationError::OutOfRange { what, .. } => ApiError::invalid(what, text),
                ValidationError::Dunning { .. } => ApiError::invalid("invoice.dunning", text),
                _ => ApiError::invalid("deal", text),
            },
            EngineError::DealTooLarge { .. } => ApiError::invalid("deal", text),
            EngineError::Repository(source) if source.is_retryable() => {
                ApiError::Unavailable(source.chain())
            }
            EngineError::Repository(source) => ApiError::Internal(source.chain()),
            _ => ApiError::Internal(text),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Malformed(reason) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "field": "", "reason": reason }),
            ),
            ApiError::Invalid { field, reason } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!({ "field": field, "reason": reason }),
            ),
            ApiError::NotFound(reason) => (
                StatusCode::NOT_FOUND,
                serde_json::json!({ "reason": reason }),
            ),
            ApiError::Conflict(reason) => (
                StatusCode::CONFLICT,
                serde_json::json!({ "reason": reason }),
            ),
            ApiError::Unavailable(reason) => (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "reason": reason }),
            ),
            ApiError::Internal(reason) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({ "reason": reason }),
            ),
        };
        (status, axum::Json(body)).into_response()
    }
}
