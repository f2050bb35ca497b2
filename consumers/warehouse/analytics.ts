/**
 * The analytics users expect of the warehouse, as aggregation pipelines over the current-state
 * collections (soft-deleted rows excluded). Sums and products of money stay Decimal128, so they
 * are exact (no double rounding), on MongoDB 7 and on the native server alike. The README shows
 * each one as a mongosh command; `npm run warehouse:analytics -- <name>` runs them from here.
 *
 * Revenue counts orders that are not cancelled or refunded.
 */
import type { Document } from 'mongodb';

const LIVE = { '_cdc.deleted': false };
const COUNTS_AS_REVENUE = { status: { $nin: ['cancelled', 'refunded'] } };

export interface Analysis {
  readonly collection: string;
  readonly pipeline: Document[];
  readonly description: string;
}

export const ANALYTICS: Readonly<Record<string, Analysis>> = Object.freeze({
  'daily-revenue': {
    description: 'revenue and order count per day (UTC), oldest first',
    collection: 'orders',
    pipeline: [
      { $match: { ...LIVE, ...COUNTS_AS_REVENUE } },
      { $group: { _id: { $dateToString: { format: '%Y-%m-%d', date: '$created_at' } }, revenue: { $sum: '$total_amount' }, orders: { $sum: 1 } } },
      { $sort: { _id: 1 } },
    ],
  },
  'orders-by-status': {
    description: 'orders and their total per status',
    collection: 'orders',
    pipeline: [
      { $match: LIVE },
      { $group: { _id: '$status', orders: { $sum: 1 }, total: { $sum: '$total_amount' } } },
      { $sort: { orders: -1, _id: 1 } },
    ],
  },
  'top-products': {
    description: 'the 10 products with the most revenue (unit price x quantity of their order items), with units sold',
    collection: 'order_items',
    pipeline: [
      { $match: LIVE },
      { $group: { _id: '$product_id', revenue: { $sum: { $multiply: ['$unit_price', '$quantity'] } }, units: { $sum: '$quantity' } } },
      { $sort: { revenue: -1, _id: 1 } },
      { $limit: 10 },
      { $lookup: { from: 'products', localField: '_id', foreignField: '_id', as: 'product' } },
      { $unwind: { path: '$product', preserveNullAndEmptyArrays: true } },
      { $project: { _id: 1, sku: '$product.sku', name: '$product.name', revenue: 1, units: 1 } },
    ],
  },
  'customer-lifetime-value': {
    description: 'the 10 customers with the highest lifetime value (sum of their orders that count as revenue)',
    collection: 'orders',
    pipeline: [
      { $match: { ...LIVE, ...COUNTS_AS_REVENUE } },
      { $group: { _id: '$customer_id', lifetime_value: { $sum: '$total_amount' }, orders: { $sum: 1 }, first_order: { $min: '$created_at' }, last_order: { $max: '$created_at' } } },
      { $sort: { lifetime_value: -1, _id: 1 } },
      { $limit: 10 },
      { $lookup: { from: 'customers', localField: '_id', foreignField: '_id', as: 'customer' } },
      { $unwind: { path: '$customer', preserveNullAndEmptyArrays: true } },
      { $project: { _id: 1, email: '$customer.email', name: { $concat: ['$customer.first_name', ' ', '$customer.last_name'] }, lifetime_value: 1, orders: 1, first_order: 1, last_order: 1 } },
    ],
  },
  'low-stock': {
    description: 'products at or below their low-stock threshold, emptiest first',
    collection: 'products',
    pipeline: [
      { $match: { ...LIVE, $expr: { $lte: ['$stock_quantity', '$low_stock_threshold'] } } },
      { $project: { _id: 1, sku: 1, name: 1, stock_quantity: 1, low_stock_threshold: 1 } },
      { $sort: { stock_quantity: 1, _id: 1 } },
    ],
  },
});
