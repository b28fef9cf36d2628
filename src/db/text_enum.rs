//! Rust enums and checked strings stored as text columns, typed on both backends: a value
//! the code does not know (or would never have written) is a deserialization error that
//! names it, never silently some default state.

/// Implements `FromSql`/`ToSql` for `Text` on SQLite, MySQL and the `MultiBackend`, given
/// `as_str` and `from_name(&str) -> Option<Self>` on the type (or the reading function
/// given third).
macro_rules! text_enum_sql {
    ($ty:ty, $what:literal) => {
        $crate::db::text_enum::text_enum_sql!($ty, $what, <$ty>::from_name);
    };
    ($ty:ty, $what:literal, $read:expr) => {
        $crate::db::text_enum::text_enum_sql!(@native $ty, $what, $read, diesel::sqlite::Sqlite);
        $crate::db::text_enum::text_enum_sql!(@native $ty, $what, $read, diesel::mysql::Mysql);

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, $crate::db::MultiBackend>
            for $ty
        {
            fn from_sql(
                bytes: <$crate::db::MultiBackend as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                bytes.from_sql::<Self, diesel::sql_types::Text>()
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, $crate::db::MultiBackend> for $ty {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, $crate::db::MultiBackend>,
            ) -> diesel::serialize::Result {
                out.set_value((diesel::sql_types::Text, self));
                Ok(diesel::serialize::IsNull::No)
            }
        }
    };
    (@native $ty:ty, $what:literal, $read:expr, $backend:ty) => {
        impl diesel::deserialize::FromSql<diesel::sql_types::Text, $backend> for $ty {
            fn from_sql(
                bytes: <$backend as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    $backend,
                >>::from_sql(bytes)?;
                ($read)(&text)
                    .ok_or_else(|| format!("unknown {} {text:?}", $what).into())
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, $backend> for $ty {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, $backend>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, $backend>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }
    };
}

pub(crate) use text_enum_sql;
