//! The example's `inventory.v1.Inventory` service: a handful of items in memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::inventory::inventory_server::Inventory;
use super::inventory::{GetItemRequest, Item, ListItemsRequest};

const ITEMS: [(&str, &str, u32); 5] = [
    ("sku-1", "kettle", 12),
    ("sku-2", "teapot", 3),
    ("sku-3", "mug", 48),
    ("sku-4", "saucer", 20),
    ("sku-5", "spoon", 100),
];

fn item((sku, name, quantity): (&str, &str, u32)) -> Item {
    Item {
        sku: sku.to_owned(),
        name: name.to_owned(),
        quantity,
    }
}

/// Work done on every `GetItem` before answering (the tests make an outbound HTTP call there).
pub(crate) type Lookup =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The service.
#[derive(Clone, Default)]
pub(crate) struct InventoryService {
    pub(crate) lookup: Option<Lookup>,
}

type ItemStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<Item, Status>> + Send>>;

#[tonic::async_trait]
impl Inventory for InventoryService {
    async fn get_item(&self, request: Request<GetItemRequest>) -> Result<Response<Item>, Status> {
        let sku = request.into_inner().sku;
        tracing::info!(%sku, "looking up an item");
        if let Some(lookup) = &self.lookup {
            lookup(sku.clone()).await;
        }
        ITEMS
            .into_iter()
            .find(|(s, _, _)| *s == sku)
            .map(|found| Response::new(item(found)))
            .ok_or_else(|| Status::not_found(format!("no item {sku}")))
    }

    type ListItemsStream = ItemStream;

    async fn list_items(
        &self,
        request: Request<ListItemsRequest>,
    ) -> Result<Response<Self::ListItemsStream>, Status> {
        let ListItemsRequest {
            limit,
            fail_after,
            delay_ms,
        } = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for (sent, found) in ITEMS.into_iter().cycle().take(limit as usize).enumerate() {
                if fail_after > 0 && sent == fail_after as usize {
                    let _ = tx
                        .send(Err(Status::unavailable("the warehouse went away")))
                        .await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(u64::from(delay_ms))).await;
                if tx.send(Ok(item(found))).await.is_err() {
                    return; // the caller went away
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
