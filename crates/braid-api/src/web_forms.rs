//! Web forms (admin): the contact forms websites post to `/forms/v1/{form_key}`, with the
//! origins allowed to post, where a plain HTML form's browser goes next, the extra fields
//! kept, and the spam rules (honeypot field, minimum fill time).

use actix_web::{HttpResponse, get, patch, post, web};
use braid_core::form::{self, FormField};
use braid_core::{FormId, Scope};
use braid_db::forms::{self, Changes, Form, NewForm};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::responses;
use crate::{ApiError, AppState, Principal, tokens};

#[derive(Debug, Serialize, ToSchema)]
pub struct FormView {
    #[schema(value_type = String, format = Uuid)]
    pub id: FormId,
    /// Public: the page's form posts to `/forms/v1/{form_key}`.
    #[schema(example = "form_Xq2mK8vRt1")]
    pub form_key: String,
    pub name: String,
    #[schema(example = json!(["https://shop.example"]))]
    pub allowed_origins: Vec<String>,
    /// Where a plain HTML form's browser is sent after posting (`?error=<code>` added on a
    /// failure); without one it gets a short page of ours.
    pub redirect_url: Option<String>,
    /// Extra fields kept with the message (`details.fields`).
    pub fields: Vec<FormFieldBody>,
    /// The field hidden from people; a submission with it filled in is spam.
    pub honeypot: String,
    /// Seconds a page must hold its form token before posting; 0 asks for no token.
    pub min_fill_secs: u32,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Form> for FormView {
    fn from(f: Form) -> Self {
        Self {
            id: f.id,
            form_key: f.form_key,
            name: f.name,
            allowed_origins: f.allowed_origins,
            redirect_url: f.redirect_url,
            fields: f.fields.into_iter().map(FormFieldBody::from).collect(),
            honeypot: f.honeypot,
            min_fill_secs: f.min_fill_secs,
            enabled: f.enabled,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// A field a form declares beyond name, email, subject and message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormFieldBody {
    /// 1 to 64 of `a-z 0-9 - _`: the field's `name` in the page's form.
    #[schema(example = "order-number")]
    pub name: String,
    #[serde(default)]
    pub required: bool,
}

impl From<FormField> for FormFieldBody {
    fn from(f: FormField) -> Self {
        Self { name: f.name, required: f.required }
    }
}

fn declared(fields: Vec<FormFieldBody>) -> Result<Vec<FormField>, ApiError> {
    Ok(form::fields(fields.into_iter().map(|f| FormField { name: f.name, required: f.required }).collect())?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Contact", "allowed_origins": ["https://shop.example"], "redirect_url": "https://shop.example/thanks", "fields": [{"name": "order-number", "required": false}]}))]
pub struct NewFormBody {
    pub name: String,
    #[schema(max_items = 50)]
    pub allowed_origins: Vec<String>,
    pub redirect_url: Option<String>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub fields: Vec<FormFieldBody>,
    /// `_gotcha` when left out.
    pub honeypot: Option<String>,
    /// 0 to 3600; 3 when left out.
    pub min_fill_secs: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"allowed_origins": ["https://shop.example", "https://www.shop.example"], "enabled": true}))]
pub struct FormPatch {
    pub name: Option<String>,
    #[schema(max_items = 50)]
    pub allowed_origins: Option<Vec<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::tickets::double_option")]
    #[schema(value_type = Option<String>)]
    pub redirect_url: Option<Option<String>>,
    #[schema(max_items = 20)]
    pub fields: Option<Vec<FormFieldBody>>,
    pub honeypot: Option<String>,
    pub min_fill_secs: Option<u32>,
    /// A disabled form refuses submissions (`404`, as an unknown key).
    pub enabled: Option<bool>,
}

fn name(input: &str) -> Result<String, ApiError> {
    Ok(braid_core::text::label("name", input)?)
}

fn origins(input: &[String]) -> Result<Vec<String>, ApiError> {
    Ok(braid_core::chat::allowed_origins(input)?)
}

fn form_not_found(error: braid_db::DbError) -> ApiError {
    match error {
        braid_db::DbError::NotFound => ApiError::not_found("form with this id"),
        other => other.into(),
    }
}

fn honeypot_clash(honeypot: &str) -> braid_core::InvalidValue {
    braid_core::InvalidValue::new(
        "honeypot",
        format!("`{honeypot}` is one of the form's fields: people would fill it in"),
    )
}

/// A honeypot that is also a declared field would take every real submission for spam.
fn distinct_honeypot(honeypot: &str, fields: &[FormField]) -> Result<(), ApiError> {
    match fields.iter().any(|f| f.name == honeypot) {
        true => Err(honeypot_clash(honeypot).into()),
        false => Ok(()),
    }
}

/// Create a web form; its `form_key` goes in the page's form action.
#[utoipa::path(
    tag = "forms",
    operation_id = "createForm",
    request_body = NewFormBody,
    responses((status = 201, description = "Created.", body = FormView), responses::Auth, responses::BadInput),
    security(("bearer" = [])),
)]
#[post("/v1/forms")]
async fn create(
    state: web::Data<AppState>,
    caller: Principal,
    body: web::Json<NewFormBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let new = NewForm {
        form_key: format!("form_{}", &tokens::random_token()[..20]),
        name: name(&body.name)?,
        allowed_origins: origins(&body.allowed_origins)?,
        redirect_url: body.redirect_url.as_deref().map(form::redirect_url).transpose()?,
        fields: declared(body.fields)?,
        honeypot: form::honeypot(body.honeypot.as_deref().unwrap_or(form::DEFAULT_HONEYPOT))?,
        min_fill_secs: form::min_fill_secs(body.min_fill_secs.unwrap_or(form::DEFAULT_MIN_FILL_SECS))?,
    };
    distinct_honeypot(&new.honeypot, &new.fields)?;
    let form = state.db.run(move |conn| forms::create(conn, &new)).await?;
    Ok(HttpResponse::Created().insert_header(("location", format!("/v1/forms/{}", form.id))).json(FormView::from(form)))
}

/// List web forms, oldest first (at most 200).
#[utoipa::path(
    tag = "forms",
    operation_id = "listForms",
    responses((status = 200, description = "The forms.", body = Vec<FormView>), responses::Auth),
    security(("bearer" = [])),
)]
#[get("/v1/forms")]
async fn list(state: web::Data<AppState>, caller: Principal) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let forms = state.db.run(|conn| forms::list(conn, 200)).await?;
    Ok(HttpResponse::Ok().json(forms.into_iter().map(FormView::from).collect::<Vec<_>>()))
}

/// Get a web form.
#[utoipa::path(
    tag = "forms",
    operation_id = "getForm",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, description = "The form.", body = FormView), responses::Auth, responses::NotFound),
    security(("bearer" = [])),
)]
#[get("/v1/forms/{id}")]
async fn get(state: web::Data<AppState>, caller: Principal, id: web::Path<FormId>) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = id.into_inner();
    let form = state.db.run(move |conn| forms::get(conn, id)).await.map_err(form_not_found)?;
    Ok(HttpResponse::Ok().json(FormView::from(form)))
}

/// Change a web form: its name, origins, redirect, fields, spam rules, or turn it off.
#[utoipa::path(
    tag = "forms",
    operation_id = "updateForm",
    params(("id" = String, Path, format = Uuid)),
    request_body = FormPatch,
    responses((status = 200, description = "The form as changed.", body = FormView), responses::Auth, responses::NotFound, responses::BadInput),
    security(("bearer" = [])),
)]
#[patch("/v1/forms/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: Principal,
    id: web::Path<FormId>,
    body: web::Json<FormPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body = body.into_inner();
    let changes = Changes {
        name: body.name.as_deref().map(name).transpose()?,
        allowed_origins: body.allowed_origins.as_deref().map(origins).transpose()?,
        redirect_url: body.redirect_url.map(|url| url.as_deref().map(form::redirect_url).transpose()).transpose()?,
        fields: body.fields.map(declared).transpose()?,
        honeypot: body.honeypot.as_deref().map(form::honeypot).transpose()?,
        min_fill_secs: body.min_fill_secs.map(form::min_fill_secs).transpose()?,
        enabled: body.enabled,
    };
    let id = id.into_inner();
    let form = state
        .db
        .run(move |conn| {
            // Checked against what the form will be, inside the update's own reads.
            let now = forms::get(conn, id)?;
            let (honeypot, fields) =
                (changes.honeypot.as_ref().unwrap_or(&now.honeypot), changes.fields.as_ref().unwrap_or(&now.fields));
            if fields.iter().any(|f| &f.name == honeypot) {
                return Err(braid_db::DbError::invalid("honeypot", honeypot_clash(honeypot)));
            }
            forms::update(conn, id, &changes)
        })
        .await
        .map_err(form_not_found)?;
    Ok(HttpResponse::Ok().json(FormView::from(form)))
}
