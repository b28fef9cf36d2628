//! Rust enums stored as short text columns, typed on both backends: a value the code does not
//! know is a deserialization error that names it, never silently some default state.

/// Implements `FromSql`/`ToSql` for `Text` on SQLite, MySQL and the `MultiBackend`, given
/// `as_str(self) -> &'static str` and `from_name(&str) -> Option<Self>` on the enum.
macro_rules! text_enum_sql {
    ($ty:ty, $what:literal) => {
        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $ty {
            fn from_sql(
                bytes: <diesel::sqlite::Sqlite as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    diesel::sqlite::Sqlite,
                >>::from_sql(bytes)?;
                <$ty>::from_name(&text).ok_or_else(|| format!("unknown {} {text:?}", $what).into())
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::mysql::Mysql> for $ty {
            fn from_sql(
                bytes: <diesel::mysql::Mysql as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    diesel::mysql::Mysql,
                >>::from_sql(bytes)?;
                <$ty>::from_name(&text).ok_or_else(|| format!("unknown {} {text:?}", $what).into())
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, $crate::db::MultiBackend>
            for $ty
        {
            fn from_sql(
                bytes: <$crate::db::MultiBackend as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                bytes.from_sql::<Self, diesel::sql_types::Text>()
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $ty {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<
                                                                    diesel::sql_types::Text,
                                                                    diesel::sqlite::Sqlite,
                                                                >>::to_sql(self.as_str(), out)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::mysql::Mysql> for $ty {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::mysql::Mysql>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<
                                                                    diesel::sql_types::Text,
                                                                    diesel::mysql::Mysql,
                                                                >>::to_sql(self.as_str(), out)
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
}

pub(crate) use text_enum_sql;
