//! [`json_events!`](crate::json_events): your event enum with each wire name written once.

/// Declares your JSON event enum and one [`EventType`](crate::EventType) constant per variant,
/// writing each wire name once: `"user.created" => UserCreated(User) as USER_CREATED` makes the
/// variant `UserCreated(User)` (deserialized from the type `user.created`) and the constant
/// `USER_CREATED: EventType<JsonEvent<YourEnum>, User>` that [`on`](crate::WebhooksBuilder::on)
/// takes.
///
/// The enum derives `Debug`, `Clone` and serde's `Deserialize` (through this crate's own serde,
/// so your crate needs no serde dependency for it); add your own attributes and docs above it
/// and above each variant. Every variant is a newtype over its payload type, which must
/// implement `Deserialize`, `Clone`, `Debug`, `Send` and `Sync`. Types the enum does not list
/// still arrive, as [`JsonEvent`](crate::json::JsonEvent)s whose `typed()` is `None`.
///
/// The macro refers to this crate as `::webhook_receiver` (serde's `crate` attribute takes a
/// path as a string): if you renamed the dependency, declare the enum by hand.
///
/// ```
/// use serde::Deserialize;
/// use webhook_receiver::json::{JsonEvent, JsonFormat};
/// use webhook_receiver::event::{Format, Received};
///
/// #[derive(Debug, Clone, Deserialize)]
/// pub struct User {
///     pub id: String,
/// }
///
/// webhook_receiver::json_events! {
///     /// What the sender sends.
///     pub enum AppEvent {
///         /// A user signed up.
///         "user.created" => UserCreated(User) as USER_CREATED,
///         "user.deleted" => UserDeleted(User) as USER_DELETED,
///     }
/// }
///
/// assert_eq!(USER_CREATED.name(), "user.created");
/// let body = br#"{"id": "evt_1", "type": "user.created", "data": {"id": "u_1"}}"#;
/// let decoded = JsonFormat::<AppEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
/// let Received::Event(event) = decoded.received() else { panic!("invalid") };
/// assert_eq!(USER_CREATED.payload(event).map(|u| u.id.as_str()), Some("u_1"));
/// assert!(USER_DELETED.payload(event).is_none());
/// ```
#[macro_export]
macro_rules! json_events {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $wire:literal => $variant:ident($payload:ty) as $konst:ident
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, $crate::__private::serde::Deserialize)]
        #[serde(crate = "::webhook_receiver::__private::serde")]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $wire)]
                $variant($payload),
            )+
        }

        $(
            #[doc = concat!("The `", $wire, "` event type: its name and its typed payload.")]
            $vis const $konst: $crate::EventType<$crate::json::JsonEvent<$name>, $payload> =
                $crate::EventType::new($wire, |event| match event.typed()? {
                    $name::$variant(payload) => Some(payload),
                    #[allow(unreachable_patterns)]
                    _ => None,
                });
        )+
    };
}
