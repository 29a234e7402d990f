use super::*;

fn values() -> Values {
    let mut values = Values::default();
    values.set_name("customer", "Ana María López");
    values.set("customer.email", "ana@example.com");
    values.set("customer.attributes.plan", "pro");
    values.set("ticket.number", "1042");
    values.set_name("agent", "Bo");
    values
}

fn template(text: &str) -> Template {
    Template::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn ticket() -> TicketState {
    TicketState {
        status: TicketStatus::Open,
        priority: Priority::Normal,
        assignee_id: None,
        team_id: None,
        tags: vec![Tag::parse("billing").unwrap()],
    }
}

fn actions(json: serde_json::Value) -> Result<Actions, String> {
    serde_json::from_value::<Actions>(json).map_err(|e| e.to_string())
}

#[test]
fn placeholders_fill_from_values_then_defaults_and_name_what_is_left() {
    let t = template(
        "Hi {{customer.first_name}} {{ customer.last_name }}, about #{{ticket.number}} on {{customer.attributes.plan}}: \
         {{customer.attributes.seats | default: \"some\"}} seats. {{customer.phone}} — {{agent.first_name}}",
    );
    let rendered = t.render(&values());
    assert_eq!(rendered.text, "Hi Ana María López, about #1042 on pro: some seats. {{customer.phone}} — Bo");
    assert_eq!(rendered.unresolved, vec![Field::parse("customer.phone").unwrap()]);
}

#[test]
fn a_blank_value_takes_the_default_and_an_empty_default_is_allowed() {
    let mut values = Values::default();
    values.set("customer.first_name", "   ");
    let t = template("Hi {{customer.first_name | default: 'there'}}{{customer.last_name | default: \"\"}}!");
    assert_eq!(t.render(&values), Rendered { text: "Hi there!".into(), unresolved: vec![] });
}

#[test]
fn defaults_hold_escapes_braces_and_pipes() {
    let t = template(r#"{{agent.name | default: "the \"team\" }} | {{ \\ \n"}}"#);
    assert_eq!(t.render(&Values::default()).text, "the \"team\" }} | {{ \\ \n");
}

#[test]
fn text_without_placeholders_and_lone_closing_braces_are_plain() {
    let t = template("Thanks! }} {x}");
    assert_eq!(t.placeholders().count(), 0);
    assert_eq!(t.render(&values()).text, "Thanks! }} {x}");
}

#[test]
fn mistakes_are_named_with_their_position() {
    let cases = [
        ("Hi {{customer.frist_name}}", 4, "not a field"),
        ("Hi {{customer.first_name", 4, "never closed"),
        ("{{ }}", 1, "names a field"),
        ("ab {{customer.name | upcase}}", 4, "only filter"),
        ("{{customer.name | default: there}}", 1, "only filter"),
        ("{{customer.name | default: \"there}}", 1, "never closed"),
        ("{{customer.name | default: \"a\" b}}", 1, "only filter"),
        ("{{customer.name | default: \"\\x\"}}", 1, "escapes"),
        ("é {{customer.name {{agent.name}}", 19, "another"),
        ("{{customer.attributes.Plan}}", 1, "not a field"),
        ("{{customer.preferences.color}}", 1, "not a field"),
        ("{{ticket}}", 1, "not a field"),
        ("   ", 1, "empty"),
        ("bell \u{7}", 1, "control"),
    ];
    for (text, position, words) in cases {
        let error = Template::parse(text).expect_err(text);
        assert_eq!(error.position, position, "{text:?}: {error}");
        assert!(error.message.contains(words), "{text:?}: {error}");
    }
}

#[test]
fn placeholders_are_bounded() {
    let many = "{{agent.name}}".repeat(MAX_PLACEHOLDERS + 1);
    assert!(Template::parse(&many).unwrap_err().message.contains("at most"));
    let long_default = format!("{{{{agent.name | default: \"{}\"}}}}", "x".repeat(MAX_DEFAULT_CHARS + 1));
    assert!(Template::parse(&long_default).is_err());
}

#[test]
fn no_input_makes_the_parser_panic() {
    // Every prefix of texts full of the parser's own punctuation, multi-byte characters
    // among them: each parses or is refused, and never panics.
    let seeds = [
        r#"Hi {{ customer.first_name | default: "th\"e}}re" }} é {{agent.name}}"#,
        "{{{{}}}}'\"\\ ü {{ | }} {{customer.attributes.x|default:'a\\'b'}}",
    ];
    for seed in seeds {
        for end in (0..=seed.len()).filter(|i| seed.is_char_boundary(*i)) {
            let _ = Template::parse(&seed[..end]);
            let _ = Template::parse(&seed[end..]);
        }
    }
}

#[test]
fn a_template_round_trips_as_its_text() {
    let t = template("Hi {{customer.first_name | default: \"there\"}}");
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json, serde_json::json!("Hi {{customer.first_name | default: \"there\"}}"));
    assert_eq!(serde_json::from_value::<Template>(json).unwrap(), t);
    assert!(serde_json::from_value::<Template>(serde_json::json!("{{nope}}")).is_err());
}

#[test]
fn actions_parse_as_typed_steps_and_refuse_what_cannot_be_meant() {
    let ok = actions(serde_json::json!([
        {"type": "reply", "text": "Hi {{customer.first_name | default: \"there\"}}"},
        {"type": "set_status", "status": "pending"},
        {"type": "add_tags", "tags": ["refund"]},
        {"type": "assign_to_me"},
    ]))
    .unwrap();
    assert_eq!(ok.as_slice().len(), 4);
    assert!(!ok.is_canned_response());
    assert!(actions(serde_json::json!([{"type": "reply", "text": "Thanks!"}])).unwrap().is_canned_response());

    let refused = [
        (serde_json::json!([]), "1 to"),
        (serde_json::json!([{"type": "note", "text": "a"}, {"type": "note", "text": "b"}]), "twice"),
        (serde_json::json!([{"type": "assign_to_me"}, {"type": "set_assignee", "agent_id": null}]), "cannot both"),
        (
            serde_json::json!([{"type": "add_tags", "tags": ["a"]}, {"type": "remove_tags", "tags": ["a"]}]),
            "both added and removed",
        ),
        (serde_json::json!([{"type": "add_tags", "tags": []}]), "1 to 50 tags"),
        (serde_json::json!([{"type": "set_status", "status": "gone"}]), "unknown variant `gone`"),
        (serde_json::json!([{"type": "set_status", "status": "open", "extra": 1}]), "unknown field"),
        (serde_json::json!([{"type": "launch"}]), "unknown variant"),
        (serde_json::json!([{"type": "reply", "text": "{{x.y}}"}]), "not a field"),
    ];
    for (json, words) in refused {
        let error = actions(json.clone()).expect_err(&json.to_string());
        assert!(error.contains(words), "{json}: {error}");
    }
}

#[test]
fn a_plan_holds_only_what_changes() {
    let me = AgentId::new();
    let macro_ = actions(serde_json::json!([
        {"type": "set_status", "status": "open"},
        {"type": "set_priority", "priority": "high"},
        {"type": "assign_to_me"},
        {"type": "add_tags", "tags": ["billing", "refund"]},
        {"type": "remove_tags", "tags": ["vip"]},
        {"type": "note", "text": "Refund for {{customer.email}}"},
    ]))
    .unwrap();
    let plan = macro_.plan(&ticket(), Some(me), &values()).unwrap();
    assert_eq!(plan.status, None, "already open");
    assert_eq!(plan.priority, Some(Priority::High));
    assert_eq!(plan.assignee_id, Some(Some(me)));
    assert_eq!(plan.tags, Some(vec![Tag::parse("billing").unwrap(), Tag::parse("refund").unwrap()]));
    assert_eq!(plan.note.unwrap().text, "Refund for ana@example.com");
    assert_eq!(plan.reply, None);

    let again = TicketState { priority: Priority::High, assignee_id: Some(me), ..ticket() };
    let only_tags = actions(serde_json::json!([{"type": "add_tags", "tags": ["billing"]}, {"type": "assign_to_me"}]))
        .unwrap()
        .plan(&again, Some(me), &values())
        .unwrap();
    assert_eq!(only_tags, Plan::default(), "nothing changes, so nothing is planned");
}

#[test]
fn a_plan_refuses_an_impossible_status_and_assign_to_me_without_an_agent() {
    let closed = TicketState { status: TicketStatus::Closed, ..ticket() };
    let reopen = actions(serde_json::json!([{"type": "set_status", "status": "open"}])).unwrap();
    assert_eq!(
        reopen.plan(&closed, None, &values()),
        Err(PlanError::Transition { from: TicketStatus::Closed, to: TicketStatus::Open })
    );
    let mine = actions(serde_json::json!([{"type": "assign_to_me"}])).unwrap();
    assert_eq!(mine.plan(&ticket(), None, &values()), Err(PlanError::NoAgent));
}

#[test]
fn unresolved_placeholders_are_named_with_their_action() {
    let macro_ = actions(serde_json::json!([
        {"type": "reply", "text": "Hi {{customer.first_name}}, your {{customer.attributes.order_id}}"},
        {"type": "note", "text": "Called {{customer.phone}}"},
    ]))
    .unwrap();
    let plan = macro_.plan(&ticket(), None, &values()).unwrap();
    let unresolved: Vec<(&str, String)> = plan.unresolved().into_iter().map(|(a, f)| (a, f.to_string())).collect();
    assert_eq!(
        unresolved,
        vec![("reply", "customer.attributes.order_id".to_owned()), ("note", "customer.phone".to_owned())]
    );
}

#[test]
fn filled_text_is_bounded_like_a_reply() {
    let mut values = Values::default();
    values.set("customer.attributes.blob", "x".repeat(1000));
    let text = "{{customer.attributes.blob}}".repeat(MAX_PLACEHOLDERS);
    let macro_ = Actions::new(vec![Action::Reply { text: template(&text) }]).unwrap();
    assert!(matches!(macro_.plan(&ticket(), None, &values), Err(PlanError::Invalid(_))));
}

#[test]
fn names_and_descriptions_are_checked() {
    assert_eq!(name("  Refund  ").unwrap(), "Refund");
    assert!(name("").is_err());
    assert!(name("a\nb").is_err());
    assert!(name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    assert_eq!(description("  ").unwrap(), None);
    assert!(description(&"x".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
}
