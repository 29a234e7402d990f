//! The diesel schema, shared by both backends (see `migrations/`).

diesel::table! {
    agents (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        tokens_not_before -> Nullable<Timestamp>,
    }
}

diesel::table! {
    teams (id) {
        id -> Text,
        name -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        pending_rule -> Nullable<Text>,
        routing -> Nullable<Text>,
        last_routed_agent_id -> Nullable<Text>,
    }
}

diesel::table! {
    customers (id) {
        id -> Text,
        name -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        name_key -> Nullable<Text>,
        merged_into -> Nullable<Text>,
        preferences -> Text,
    }
}

diesel::table! {
    identities (id) {
        id -> Text,
        customer_id -> Text,
        kind -> Text,
        value -> Text,
        trust -> Text,
        created_at -> Timestamp,
        trust_source -> Text,
        trust_changed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    threads (id) {
        id -> Text,
        customer_id -> Text,
        created_at -> Timestamp,
        last_message_at -> Nullable<Timestamp>,
        merged_into -> Nullable<Text>,
        moves -> BigInt,
        inbound_channel -> Nullable<Text>,
        inbound_language -> Nullable<Text>,
        inbound_utc_offset -> Nullable<Text>,
    }
}

diesel::table! {
    tickets (id) {
        id -> Text,
        number -> BigInt,
        customer_id -> Text,
        subject -> Text,
        status -> Text,
        priority -> Text,
        channel -> Text,
        assignee_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        solved_at -> Nullable<Timestamp>,
        sla_due_at -> Nullable<Timestamp>,
        snoozed_until -> Nullable<Timestamp>,
        snooze_wakes_on_reply -> Bool,
        follow_ups_on_reply -> Bool,
    }
}

diesel::table! {
    ticket_tags (ticket_id, tag) {
        ticket_id -> Text,
        tag -> Text,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        thread_id -> Text,
        ticket_id -> Nullable<Text>,
        channel -> Text,
        direction -> Text,
        author_kind -> Text,
        author_agent_id -> Nullable<Text>,
        body_text -> Text,
        body_html -> Nullable<Text>,
        channel_ref -> Nullable<Text>,
        delivery_state -> Nullable<Text>,
        placement -> Text,
        details -> Text,
        created_at -> Timestamp,
        original -> Nullable<Binary>,
        original_type -> Nullable<Text>,
        content_digest -> Nullable<Text>,
        identity_id -> Nullable<Text>,
        sent_to -> Nullable<Text>,
        sent_via -> Nullable<Text>,
    }
}

diesel::table! {
    chat_sites (id) {
        id -> Text,
        site_key -> Text,
        name -> Text,
        slug -> Text,
        allowed_origins -> Text,
        strict -> Bool,
        max_identity_token_secs -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    chat_site_secrets (site_id, kid) {
        site_id -> Text,
        kid -> Text,
        secret -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    chat_visitors (id) {
        id -> Text,
        site_id -> Text,
        identity_kind -> Text,
        identity_value -> Text,
        verified -> Bool,
        online_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        kind -> Text,
        subject_id -> Text,
        customer_id -> Nullable<Text>,
        ticket_id -> Nullable<Text>,
        payload -> Text,
        created_at -> Timestamp,
        tx -> BigInt,
    }
}

diesel::table! {
    event_log_pruned (id) {
        id -> Integer,
        tx -> BigInt,
        seq -> BigInt,
        pruned_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        message_id -> Text,
        channel -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        bundle -> Nullable<Text>,
    }
}

diesel::table! {
    secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        agent_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        name -> Text,
        prefix -> Text,
        secret_hash -> Text,
        scopes -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        connector_id -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (principal, key) {
        principal -> Text,
        key -> Text,
        request_hash -> Text,
        status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        response_headers -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        email -> Text,
        at -> Timestamp,
        address -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        agent_id -> Text,
        created_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    team_members (team_id, agent_id) {
        team_id -> Text,
        agent_id -> Text,
    }
}

diesel::table! {
    webhook_replays (provider, token) {
        provider -> Text,
        token -> Text,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    merges (id) {
        id -> Text,
        target_id -> Text,
        source_id -> Text,
        actor -> Text,
        reason -> Text,
        fields -> Text,
        target_updated_at -> Timestamp,
        source_updated_at -> Timestamp,
        created_at -> Timestamp,
        undone_at -> Nullable<Timestamp>,
        undone_by -> Nullable<Text>,
        undo_report -> Nullable<Text>,
    }
}

diesel::table! {
    merge_moves (merge_id, kind, item_id) {
        merge_id -> Text,
        kind -> Text,
        item_id -> Text,
    }
}

diesel::table! {
    merge_suggestions (id) {
        id -> Text,
        customer_id -> Text,
        other_customer_id -> Text,
        kind -> Text,
        value -> Text,
        evidence -> Text,
        state -> Text,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
        merge_id -> Nullable<Text>,
    }
}

diesel::table! {
    attribute_definitions (key) {
        key -> Text,
        label -> Text,
        kind -> Text,
        options -> Nullable<Text>,
        description -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customer_attributes (customer_id, key) {
        customer_id -> Text,
        key -> Text,
        value -> Text,
        source -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customer_notes (id) {
        id -> Text,
        customer_id -> Text,
        author_agent_id -> Nullable<Text>,
        body -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        url -> Text,
        description -> Text,
        events -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        cursor_tx -> BigInt,
        cursor_seq -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_secrets (id) {
        id -> Text,
        endpoint_id -> Text,
        secret -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        endpoint_id -> Text,
        event_tx -> BigInt,
        event_seq -> BigInt,
        kind -> Text,
        body -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        delivery_id -> Text,
        attempt -> Integer,
        at -> Timestamp,
        status -> Nullable<Integer>,
        latency_ms -> BigInt,
        error -> Nullable<Text>,
        response -> Nullable<Text>,
    }
}

diesel::table! {
    connectors (id) {
        id -> Text,
        name -> Text,
        callback_url -> Nullable<Text>,
        trusted -> Bool,
        secret -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    forms (id) {
        id -> Text,
        form_key -> Text,
        name -> Text,
        allowed_origins -> Text,
        redirect_url -> Nullable<Text>,
        fields -> Text,
        honeypot -> Text,
        min_fill_secs -> Integer,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    connector_refs (connector_id, kind, external_id) {
        connector_id -> Text,
        kind -> Text,
        external_id -> Text,
        ticket_id -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    schedules (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    schedule_versions (schedule_id, version) {
        schedule_id -> Text,
        version -> Integer,
        valid_from -> Timestamp,
        definition -> Text,
    }
}

diesel::table! {
    sla_policies (id) {
        id -> Text,
        name -> Text,
        position -> Integer,
        enabled -> Bool,
        conditions -> Text,
        schedule_id -> Nullable<Text>,
        targets -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ticket_statuses (seq) {
        seq -> BigInt,
        ticket_id -> Text,
        status -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    ticket_slas (ticket_id) {
        ticket_id -> Text,
        policy_id -> Nullable<Text>,
        policy -> Nullable<Text>,
        choice -> Text,
        clocks -> Text,
        breaches -> Text,
        computed_at -> Timestamp,
    }
}

diesel::table! {
    due_jobs (id) {
        id -> Text,
        kind -> Text,
        subject -> Text,
        due_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        attempts -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    reminders (id) {
        id -> Text,
        ticket_id -> Text,
        agent_id -> Text,
        created_by -> Nullable<Text>,
        due_at -> Timestamp,
        note -> Text,
        cancel_on_reply -> Bool,
        state -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    macros (id) {
        id -> Text,
        name -> Text,
        folded_name -> Text,
        description -> Nullable<Text>,
        owner_agent_id -> Nullable<Text>,
        actions -> Text,
        canned_response -> Bool,
        created_by -> Nullable<Text>,
        version -> BigInt,
        applied_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    surveys (id) {
        id -> Text,
        ticket_id -> Text,
        customer_id -> Text,
        cycle -> Integer,
        state -> Text,
        send_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        message_id -> Nullable<Text>,
        assignee_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        rating -> Nullable<Text>,
        comment -> Nullable<Text>,
        first_rated_at -> Nullable<Timestamp>,
        rated_at -> Nullable<Timestamp>,
        loop_closed_at -> Nullable<Timestamp>,
        follow_up_ticket_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    agent_presence (agent_id) {
        agent_id -> Text,
        status -> Text,
        lease_until -> Timestamp,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    ticket_routings (id) {
        id -> Text,
        ticket_id -> Text,
        team_id -> Nullable<Text>,
        agent_id -> Nullable<Text>,
        previous_agent_id -> Nullable<Text>,
        mode -> Text,
        trigger -> Text,
        reason -> Text,
        at -> Timestamp,
    }
}

diesel::joinable!(schedule_versions -> schedules (schedule_id));
diesel::joinable!(identities -> customers (customer_id));
diesel::joinable!(threads -> customers (customer_id));
diesel::joinable!(tickets -> customers (customer_id));
diesel::joinable!(ticket_tags -> tickets (ticket_id));
diesel::joinable!(messages -> threads (thread_id));
diesel::joinable!(outbox -> messages (message_id));
diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> agents (agent_id));
diesel::joinable!(refresh_tokens -> agents (agent_id));
diesel::joinable!(sessions -> agents (agent_id));
diesel::joinable!(merge_moves -> merges (merge_id));
diesel::joinable!(customer_attributes -> attribute_definitions (key));
diesel::joinable!(customer_notes -> customers (customer_id));
diesel::joinable!(chat_site_secrets -> chat_sites (site_id));
diesel::joinable!(chat_visitors -> chat_sites (site_id));
diesel::joinable!(webhook_secrets -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));

diesel::allow_tables_to_appear_in_same_query!(
    agents,
    teams,
    customers,
    identities,
    threads,
    tickets,
    ticket_tags,
    messages,
    events,
    outbox,
    merges,
    merge_moves,
    merge_suggestions,
    attribute_definitions,
    customer_attributes,
    customer_notes,
    chat_sites,
    chat_site_secrets,
    chat_visitors,
    webhook_endpoints,
    webhook_secrets,
    webhook_deliveries,
    webhook_attempts,
    connectors,
    connector_refs,
    forms,
    api_keys,
    schedules,
    schedule_versions,
    sla_policies,
    ticket_statuses,
    ticket_slas,
    due_jobs,
    reminders,
    macros,
    surveys,
    settings,
    agent_presence,
    ticket_routings,
);

// The access-token check reads an agent and their session in one query.
diesel::allow_tables_to_appear_in_same_query!(agents, sessions);
