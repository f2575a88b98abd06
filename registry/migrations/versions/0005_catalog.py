"""brand catalogue, packs, subscriptions, listing links and webhook deliveries (issue 13)

Revision ID: 0005_catalog
Revises: 0004_trust
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_catalog"
down_revision = "0004_trust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('packs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('brand_tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('draft_product_ids', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_tenant_id'], ['tenants.id'], name=op.f('fk_packs_brand_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_packs')),
    sa.UniqueConstraint('brand_tenant_id', 'name', name=op.f('uq_packs_brand_tenant_id_name'))
    )
    op.create_index(op.f('ix_packs_brand_tenant_id'), 'packs', ['brand_tenant_id'], unique=False)
    op.create_table('products',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('brand_tenant_id', sa.String(length=40), nullable=False),
    sa.Column('sku', sa.String(length=200), nullable=False),
    sa.Column('gtin', sa.String(length=14), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_tenant_id'], ['tenants.id'], name=op.f('fk_products_brand_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('brand_tenant_id', 'gtin', name=op.f('uq_products_brand_tenant_id_gtin')),
    sa.UniqueConstraint('brand_tenant_id', 'sku', name=op.f('uq_products_brand_tenant_id_sku'))
    )
    op.create_index(op.f('ix_products_brand_tenant_id'), 'products', ['brand_tenant_id'], unique=False)
    op.create_index(op.f('ix_products_gtin'), 'products', ['gtin'], unique=False)
    op.create_table('pack_subscriptions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('pack_id', sa.String(length=40), nullable=False),
    sa.Column('seller_tenant_id', sa.String(length=40), nullable=False),
    sa.Column('webhook_url', sa.String(length=2000), nullable=False),
    sa.Column('webhook_secret', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pack_id'], ['packs.id'], name=op.f('fk_pack_subscriptions_pack_id_packs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['seller_tenant_id'], ['tenants.id'], name=op.f('fk_pack_subscriptions_seller_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pack_subscriptions')),
    sa.UniqueConstraint('pack_id', 'seller_tenant_id', name=op.f('uq_pack_subscriptions_pack_id_seller_tenant_id'))
    )
    op.create_index(op.f('ix_pack_subscriptions_pack_id'), 'pack_subscriptions', ['pack_id'], unique=False)
    op.create_index(op.f('ix_pack_subscriptions_seller_tenant_id'), 'pack_subscriptions', ['seller_tenant_id'], unique=False)
    op.create_table('pack_versions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('pack_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('changelog', sa.Text(), nullable=False),
    sa.Column('licence', sa.Text(), nullable=False),
    sa.Column('platforms', sa.JSON(), nullable=False),
    sa.Column('embargo_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('contents', sa.JSON(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pack_id'], ['packs.id'], name=op.f('fk_pack_versions_pack_id_packs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pack_versions')),
    sa.UniqueConstraint('pack_id', 'number', name=op.f('uq_pack_versions_pack_id_number'))
    )
    op.create_index(op.f('ix_pack_versions_pack_id'), 'pack_versions', ['pack_id'], unique=False)
    op.create_table('product_slots',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('facet', sa.String(length=8), nullable=False),
    sa.Column('asset_id', sa.String(length=40), nullable=False),
    sa.Column('upload_id', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_product_slots_asset_id_assets')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_slots_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_slots')),
    sa.UniqueConstraint('product_id', 'role', 'position', name=op.f('uq_product_slots_product_id_role_position'))
    )
    op.create_index(op.f('ix_product_slots_asset_id'), 'product_slots', ['asset_id'], unique=False)
    op.create_index(op.f('ix_product_slots_product_id'), 'product_slots', ['product_id'], unique=False)
    op.create_table('listing_links',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('seller_tenant_id', sa.String(length=40), nullable=False),
    sa.Column('sku', sa.String(length=200), nullable=False),
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('gtin', sa.String(length=14), nullable=False),
    sa.Column('pinned_version', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['seller_tenant_id'], ['tenants.id'], name=op.f('fk_listing_links_seller_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['subscription_id'], ['pack_subscriptions.id'], name=op.f('fk_listing_links_subscription_id_pack_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listing_links')),
    sa.UniqueConstraint('seller_tenant_id', 'sku', name=op.f('uq_listing_links_seller_tenant_id_sku'))
    )
    op.create_index(op.f('ix_listing_links_seller_tenant_id'), 'listing_links', ['seller_tenant_id'], unique=False)
    op.create_index(op.f('ix_listing_links_subscription_id'), 'listing_links', ['subscription_id'], unique=False)
    op.create_table('pack_assets',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('version_id', sa.String(length=40), nullable=False),
    sa.Column('asset_id', sa.String(length=40), nullable=False),
    sa.Column('brand_tenant_id', sa.String(length=40), nullable=False),
    sa.Column('embargo_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['pack_versions.id'], name=op.f('fk_pack_assets_version_id_pack_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pack_assets')),
    sa.UniqueConstraint('version_id', 'asset_id', name=op.f('uq_pack_assets_version_id_asset_id'))
    )
    op.create_index(op.f('ix_pack_assets_asset_id'), 'pack_assets', ['asset_id'], unique=False)
    op.create_index(op.f('ix_pack_assets_version_id'), 'pack_assets', ['version_id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('log', sa.JSON(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['subscription_id'], ['pack_subscriptions.id'], name=op.f('fk_webhook_deliveries_subscription_id_pack_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    op.create_index(op.f('ix_webhook_deliveries_subscription_id'), 'webhook_deliveries', ['subscription_id'], unique=False)


def downgrade() -> None:
    op.drop_table('webhook_deliveries')
    op.drop_table('pack_assets')
    op.drop_table('listing_links')
    op.drop_table('product_slots')
    op.drop_table('pack_versions')
    op.drop_table('pack_subscriptions')
    op.drop_table('products')
    op.drop_table('packs')
