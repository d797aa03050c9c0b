"""LTI 1.3 registrations and deployments, the tool's keys, and spent nonces."""
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField


def up(migrator, db):
    class District(Model):
        class Meta:
            database = db
            table_name = 'district'

    class LtiRegistration(Model):
        issuer = TextField()
        client_id = TextField()
        auth_login_url = TextField()
        auth_token_url = TextField()
        key_set_url = TextField()
        auth_audience = TextField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'lti_registration'
            indexes = ((('issuer', 'client_id'), True),)

    class LtiDeployment(Model):
        registration = ForeignKeyField(LtiRegistration, on_delete='CASCADE')
        deployment_id = TextField()
        district = ForeignKeyField(District, on_delete='CASCADE')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'lti_deployment'
            indexes = ((('registration', 'deployment_id'), True),)

    class LtiToolKey(Model):
        kid = CharField(max_length=64, unique=True)
        private_pem = TextField()
        public_jwk = TextField()
        current = IntegerField(null=True, unique=True)
        created_at = DateTimeField()
        retired_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'lti_tool_key'

    class UsedNonce(Model):
        key = CharField(max_length=128, unique=True)
        used_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'used_nonce'

    db.create_tables([LtiRegistration, LtiDeployment, LtiToolKey, UsedNonce])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('used_nonce'))
    migrator.migrate(migrator.drop_table('lti_tool_key'))
    migrator.migrate(migrator.drop_table('lti_deployment'))
    migrator.migrate(migrator.drop_table('lti_registration'))
