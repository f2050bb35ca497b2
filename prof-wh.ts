import { MongoClient } from 'mongodb';
const c = new MongoClient('mongodb://127.0.0.1:28017', { serverSelectionTimeoutMS: 60000, connectTimeoutMS: 60000, socketTimeoutMS: 0 }); await c.connect();
const db = c.db('bench_verify_mx5hoyeh');
let t = Date.now(); let n = 0; let dup = 0;
for await (const g of db.collection('change_log').aggregate([
  { $match: { table: 'products' } },
  { $group: { _id: '$key', latest: { $max: '$version' }, n: { $sum: 1 }, versions: { $addToSet: '$version' } } },
  { $project: { latest: 1, n: 1, distinct: { $size: '$versions' } } },
], { batchSize: 10000, allowDiskUse: true })) { n++; if (g.n !== g.distinct) dup++; }
console.log('aggregate', n, dup, (Date.now() - t) / 1000);
await c.close();
